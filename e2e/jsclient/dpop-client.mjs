// A DPoP client (RFC 9449) made with the dpop package: gets a DPoP-bound
// token with client credentials, calls a guarded URL with a proof, then
// tries what an attacker would (the same proof again, the token as a
// bearer token) and prints every status as JSON.
//
// Server nonces (RFC 9449 §8, §9): the dpop package puts a nonce in a
// proof when given one (generateProof's fourth argument) and leaves the
// rest to its caller, so this client does what the RFC asks of one: keep
// the latest DPoP-Nonce each server sent, and on use_dpop_nonce (400 from
// the token endpoint, 401 with a DPoP challenge from a resource server)
// send the request once more with a new proof carrying it.
//
//   node dpop-client.mjs <token URL> <resource URL> <client id> <secret> <alg>
import { generateKeyPair, generateProof } from 'dpop';
import { calculateJwkThumbprint, exportJWK } from 'jose';

const [tokenURL, resourceURL, id, secret, alg] = process.argv.slice(2);
const keypair = await generateKeyPair(alg);

// The latest nonce of each server: the authorization server's and the
// resource server's are kept apart (RFC 9449 §9).
const nonces = { as: undefined, rs: undefined };
const retries = { token: 0, call: 0 };
const remember = (server, resp) => {
  const n = resp.headers.get('dpop-nonce');
  if (n) nonces[server] = n;
};

const requestToken = async () => {
  const resp = await fetch(tokenURL, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64'),
      dpop: await generateProof(keypair, tokenURL, 'POST', nonces.as),
    },
    body: 'grant_type=client_credentials',
  });
  remember('as', resp);
  return { resp, body: await resp.json() };
};
let { resp: tokenResp, body: token } = await requestToken();
if (tokenResp.status === 400 && token.error === 'use_dpop_nonce' && nonces.as) {
  retries.token++;
  ({ resp: tokenResp, body: token } = await requestToken());
}

const send = async (scheme, proof) => {
  const headers = { authorization: `${scheme} ${token.access_token}` };
  if (proof) headers.dpop = proof;
  const resp = await fetch(resourceURL, { headers });
  remember('rs', resp);
  return resp;
};
const newProof = () => generateProof(keypair, resourceURL, 'GET', nonces.rs, token.access_token);
// call sends a fresh proof, and once more on use_dpop_nonce.
const call = async () => {
  let resp = await send('DPoP', await newProof());
  if (resp.status === 401 && /error="use_dpop_nonce"/.test(resp.headers.get('www-authenticate') ?? '')) {
    retries.call++;
    resp = await send('DPoP', await newProof());
  }
  return resp.status;
};

const first = await call();
const proof = await newProof();
const out = {
  // The key's RFC 7638 thumbprint as jose computes it: the token's cnf.jkt
  // must be the same.
  jkt: await calculateJwkThumbprint(await exportJWK(keypair.publicKey), 'sha256'),
  accessToken: token.access_token,
  tokenStatus: tokenResp.status,
  tokenType: token.token_type,
  call: first,
  once: (await send('DPoP', proof)).status,
  replay: (await send('DPoP', proof)).status,
  asBearer: (await send('Bearer')).status,
  fresh: await call(),
  tokenRetries: retries.token,
  callRetries: retries.call,
};
process.stdout.write(JSON.stringify(out));
