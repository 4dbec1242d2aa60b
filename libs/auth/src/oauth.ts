import { createPublicKey, randomBytes, randomUUID, type JsonWebKey } from 'node:crypto';
import {
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWK,
} from 'jose';
import type { SigningKeyRecord } from '@sinew/store';

/**
 * OAuth2 client credentials (RFC 6749 §4.4): the pieces `AccessService` puts together —
 * client secrets, client public keys for `private_key_jwt` (RFC 7523), the token-signing key
 * (ES256, kept in the ledger so every API process signs and checks with the same key), and
 * the RFC 6749 error answers.
 */

/** RFC 6749 §5.2 error codes the token endpoint answers. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'unauthorized_client'
  | 'unsupported_grant_type';

/** A token request refused: the endpoint answers `{ error, error_description }` with `status`. */
export class OAuthError extends Error {
  readonly status: number;
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
  ) {
    super(description);
    this.name = 'OAuthError';
    this.status = error === 'invalid_client' ? 401 : 400;
  }
}

/** `client_assertion_type` of RFC 7523 client authentication. */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The access tokens' signature algorithm. */
export const TOKEN_ALG = 'ES256';
/** A client assertion may be valid for at most this long (its `exp` − now). */
export const MAX_ASSERTION_LIFETIME_S = 600;

/** A new client secret: 32 random bytes, base64url (43 characters). */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A new client id: `snc_` and 20 hex characters (never mistaken for an API key, which starts `snw_`). */
export function generateClientId(): string {
  return `snc_${randomBytes(10).toString('hex')}`;
}

export const CLIENT_ID = /^snc_[0-9a-f]{20}$/;

/** The signature algorithms a client key may use, by key type. */
export function assertionAlgorithms(jwk: JWK): string[] {
  if (jwk.kty === 'EC') {
    return jwk.crv === 'P-256' ? ['ES256'] : jwk.crv === 'P-384' ? ['ES384'] : ['ES512'];
  }
  if (jwk.kty === 'OKP') return ['EdDSA', 'Ed25519'];
  if (jwk.kty === 'RSA') return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  return [];
}

/**
 * A client's public key (a JWK as JSON, or a PEM public key or certificate) as a public JWK:
 * EC P-256/P-384/P-521, Ed25519, or RSA of at least 2048 bits. Throws naming what is wrong;
 * a private key is refused (only its public half belongs here).
 */
export function publicJwkOf(text: string): JWK {
  const trimmed = text.trim();
  let key;
  try {
    if (trimmed.startsWith('{')) {
      const parsed = JSON.parse(trimmed) as JWK;
      if (parsed.d !== undefined || parsed.p !== undefined)
        throw new Error('this is a private key: give the public key only');
      key = createPublicKey({ key: parsed as JsonWebKey, format: 'jwk' });
    } else {
      if (/PRIVATE KEY-----/.test(trimmed))
        throw new Error('this is a private key: give the public key only');
      key = createPublicKey(trimmed);
    }
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`not a public key (JWK or PEM): ${why}`);
  }
  const jwk = key.export({ format: 'jwk' }) as JWK;
  const type = key.asymmetricKeyType;
  if (type === 'ec' && ['P-256', 'P-384', 'P-521'].includes(String(jwk.crv))) return jwk;
  if (type === 'ed25519') return jwk;
  if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return jwk;
  throw new Error('the key must be EC (P-256, P-384, P-521), Ed25519 or RSA of at least 2048 bits');
}

/** A fresh token-signing key, ready to offer to the ledger (the first one stored wins). */
export async function newSigningKey(now: Date): Promise<SigningKeyRecord> {
  const { privateKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateJwk: JSON.stringify({ ...jwk, kid, alg: TOKEN_ALG }), createdAt: now };
}

/** The signing key loaded for use: the private key, its public half and its id. */
export interface TokenKeys {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

export async function loadSigningKey(record: SigningKeyRecord): Promise<TokenKeys> {
  const jwk = JSON.parse(record.privateJwk) as JWK;
  const { d: _d, ...pub } = jwk;
  return {
    kid: record.kid,
    privateKey: (await importJWK(jwk, TOKEN_ALG)) as CryptoKey,
    publicKey: (await importJWK(pub, TOKEN_ALG)) as CryptoKey,
  };
}

export interface TokenClaims {
  issuer: string;
  audience: string;
  clientId: string;
  scopes: readonly string[];
  now: Date;
  ttlS: number;
}

/** Signs an access token: `iss`, `aud`, `sub` (the client id), `scope`, `iat`, `exp`, `jti`. */
export async function signAccessToken(keys: TokenKeys, c: TokenClaims): Promise<string> {
  const iat = Math.floor(c.now.getTime() / 1000);
  return new SignJWT({ scope: c.scopes.join(' '), client_id: c.clientId })
    .setProtectedHeader({ alg: TOKEN_ALG, kid: keys.kid, typ: 'at+jwt' })
    .setIssuer(c.issuer)
    .setAudience(c.audience)
    .setSubject(c.clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + c.ttlS)
    .setJti(randomUUID())
    .sign(keys.privateKey);
}

/** A verified access token's subject and scopes, or undefined when it is not one of ours or has expired. */
export async function verifyAccessToken(
  keys: TokenKeys,
  token: string,
  expect: { issuer: string; audience: string; now: Date },
): Promise<{ clientId: string; scopes: string[]; jti: string } | undefined> {
  try {
    const { payload } = await jwtVerify(token, keys.publicKey, {
      algorithms: [TOKEN_ALG],
      issuer: expect.issuer,
      audience: expect.audience,
      currentDate: expect.now,
      typ: 'at+jwt',
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      clockTolerance: 0,
    });
    if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string') return undefined;
    const scope = typeof payload['scope'] === 'string' ? payload['scope'] : '';
    return { clientId: payload.sub, scopes: scope.split(' ').filter((s) => s !== ''), jti: payload.jti };
  } catch {
    return undefined;
  }
}

/** The client an assertion names (`iss`/`sub`), read before its signature is checked. */
export function assertionClient(assertion: string): string | undefined {
  try {
    const claims = decodeJwt(assertion);
    if (typeof claims.iss !== 'string' || claims.sub !== claims.iss) return undefined;
    return claims.iss;
  } catch {
    return undefined;
  }
}

/**
 * Checks a client assertion (RFC 7523 §3): signed by the client's key, `iss` = `sub` = the
 * client id, `aud` one of the token endpoint's names, `exp` in the future but at most
 * `MAX_ASSERTION_LIFETIME_S` away, a `jti`. Resolves with its `jti` and `exp`; throws
 * `invalid_client` otherwise. Whether the `jti` was used before is the caller's check.
 */
export async function verifyAssertion(
  assertion: string,
  jwkText: string,
  expect: { clientId: string; audiences: readonly string[]; now: Date },
): Promise<{ jti: string; exp: Date }> {
  const jwk = JSON.parse(jwkText) as JWK;
  const algorithms = assertionAlgorithms(jwk);
  try {
    const key = await importJWK(jwk, algorithms[0]);
    const { payload } = await jwtVerify(assertion, key, {
      algorithms,
      issuer: expect.clientId,
      subject: expect.clientId,
      audience: [...expect.audiences],
      currentDate: expect.now,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: 5,
    });
    const exp = payload.exp as number;
    if (exp - expect.now.getTime() / 1000 > MAX_ASSERTION_LIFETIME_S)
      throw new OAuthError(
        'invalid_client',
        `the client assertion's exp is more than ${MAX_ASSERTION_LIFETIME_S} s away`,
      );
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 200)
      throw new OAuthError('invalid_client', 'the client assertion needs a jti');
    return { jti: payload.jti, exp: new Date(exp * 1000) };
  } catch (error) {
    if (error instanceof OAuthError) throw error;
    const code = (error as { code?: unknown }).code;
    const why =
      code === 'ERR_JWT_EXPIRED'
        ? 'the client assertion has expired'
        : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
          ? `the client assertion's ${String((error as { claim?: unknown }).claim)} claim is wrong`
          : 'the client assertion is not validly signed by the client';
    throw new OAuthError('invalid_client', why);
  }
}
