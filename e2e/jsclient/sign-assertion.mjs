// Makes private_key_jwt client assertions (RFC 7523 §2.2) with jose, as a
// JavaScript client of a Portcullis issuer would: a fresh key pair, its
// public JWK Set to register, and two assertions with distinct jti.
//
//   node sign-assertion.mjs <client id> <audience> <alg>
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const [clientId, audience, alg] = process.argv.slice(2);
const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
const jwk = { ...(await exportJWK(publicKey)), kid: 'js-1', alg, use: 'sig' };

const assertion = () =>
  new SignJWT({})
    .setProtectedHeader({ alg, kid: jwk.kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('2m')
    .setJti(randomUUID())
    .sign(privateKey);

process.stdout.write(JSON.stringify({ jwks: { keys: [jwk] }, assertions: [await assertion(), await assertion()] }));
