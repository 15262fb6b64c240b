// A DPoP client (RFC 9449) made with the dpop package: gets a DPoP-bound
// token with client credentials, calls a guarded URL with a proof, then
// tries what an attacker would (the same proof again, the token as a
// bearer token) and prints every status as JSON.
//
//   node dpop-client.mjs <token URL> <resource URL> <client id> <secret> <alg>
import { generateKeyPair, generateProof } from 'dpop';
import { calculateJwkThumbprint, exportJWK } from 'jose';

const [tokenURL, resourceURL, id, secret, alg] = process.argv.slice(2);
const keypair = await generateKeyPair(alg);

const tokenResp = await fetch(tokenURL, {
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64'),
    dpop: await generateProof(keypair, tokenURL, 'POST'),
  },
  body: 'grant_type=client_credentials',
});
const token = await tokenResp.json();

const call = async (scheme, proof) => {
  const headers = { authorization: `${scheme} ${token.access_token}` };
  if (proof) headers.dpop = proof;
  return (await fetch(resourceURL, { headers })).status;
};
const proof = await generateProof(keypair, resourceURL, 'GET', undefined, token.access_token);
const out = {
  // The key's RFC 7638 thumbprint as jose computes it: the token's cnf.jkt
  // must be the same.
  jkt: await calculateJwkThumbprint(await exportJWK(keypair.publicKey), 'sha256'),
  accessToken: token.access_token,
  tokenStatus: tokenResp.status,
  tokenType: token.token_type,
  call: await call('DPoP', proof),
  replay: await call('DPoP', proof),
  asBearer: await call('Bearer'),
  fresh: await call('DPoP', await generateProof(keypair, resourceURL, 'GET', undefined, token.access_token)),
};
process.stdout.write(JSON.stringify(out));
