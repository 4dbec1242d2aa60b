/**
 * An SFTP session for the `sftp` source and destination: the connection settings they share,
 * host key pinning, and the sorting of connection failures into "try again" (network) and
 * "refused" (host key, credentials).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import SftpClient from 'ssh2-sftp-client';
import { z } from 'zod';
import { errorCode, millis } from './common';

const FINGERPRINT = /^(SHA256:)?[A-Za-z0-9+/]{43}=?$/;

/** Connection settings shared by the `sftp` source and destination. */
export function sftpConnectionFields() {
  return {
    host: z.string().min(1).describe('SFTP server name or address.'),
    port: z.number().int().min(1).max(65535).default(22).describe('SSH port of the server.'),
    username: z.string().min(1).describe('User to log in as.'),
    password: z
      .string()
      .min(1)
      .optional()
      .describe('Password (keep it out of the file: `${SFTP_PASSWORD}`).'),
    private_key_file: z
      .string()
      .min(1)
      .optional()
      .describe('Path of a private key file (OpenSSH or PEM format) to log in with, read at start.'),
    private_key: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The private key itself (PEM or OpenSSH text), e.g. `${SFTP_KEY}`; instead of `private_key_file`.',
      ),
    passphrase: z.string().min(1).optional().describe('Passphrase of an encrypted private key.'),
    host_key_sha256: z
      .string()
      .regex(
        FINGERPRINT,
        'expected an OpenSSH SHA256 fingerprint such as SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
      )
      .describe(
        "The server's host key fingerprint, as `ssh-keygen -lf` prints it (`SHA256:…`); get it with " +
          '`ssh-keyscan -p PORT HOST | ssh-keygen -lf -` and check it with the server owner. A server that ' +
          'presents another key is refused, and the error names the fingerprint it presented.',
      ),
    connect_timeout_ms: millis(10_000, 'How long connecting and logging in may take.'),
  };
}

/** The connection part of an `sftp` config. */
export interface SftpConnectionConfig {
  host: string;
  port: number;
  username: string;
  password?: string | undefined;
  private_key_file?: string | undefined;
  private_key?: string | undefined;
  passphrase?: string | undefined;
  host_key_sha256: string;
  connect_timeout_ms: number;
}

/** Refinements every `sftp` config carries: one way to log in at least, one key source at most. */
export function checkCredentials(c: SftpConnectionConfig, ctx: z.RefinementCtx): void {
  if (!c.password && !c.private_key && !c.private_key_file) {
    ctx.addIssue({
      code: 'custom',
      message: 'set password, private_key_file or private_key to log in with',
      path: ['password'],
    });
  }
  if (c.private_key && c.private_key_file) {
    ctx.addIssue({
      code: 'custom',
      message: 'set private_key or private_key_file, not both',
      path: ['private_key'],
    });
  }
}

/** The OpenSSH fingerprint (`SHA256:` + unpadded base64 of the key's SHA-256) of a host key. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function normalFingerprint(text: string): string {
  const bare = text.startsWith('SHA256:') ? text.slice(7) : text;
  return `SHA256:${bare.replace(/=+$/, '')}`;
}

/** Why a connection failed: `host_key` and `auth` are refusals; `network` is worth another try. */
export type SftpFailure = 'host_key' | 'auth' | 'network';

/** A failed connection, with a message safe to log (no credentials, no content). */
export class SftpConnectError extends Error {
  override readonly name = 'SftpConnectError';
  constructor(
    readonly failure: SftpFailure,
    /** `HOST_KEY_MISMATCH`, `AUTH_REFUSED`, or the network error code (`ECONNREFUSED` …). */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** `sftp://user@host:port`, for logs and `describe()`. */
export function sftpAddress(c: SftpConnectionConfig): string {
  const host = c.host.includes(':') ? `[${c.host}]` : c.host;
  return `sftp://${c.username}@${host}:${c.port}`;
}

/** Reads the private key file once (at start), so that a missing file fails early. */
export async function loadPrivateKey(c: SftpConnectionConfig): Promise<string | Buffer | undefined> {
  if (c.private_key) return c.private_key;
  if (!c.private_key_file) return undefined;
  try {
    return await readFile(c.private_key_file);
  } catch (err) {
    throw new Error(`sftp: cannot read the private key file ${c.private_key_file} (${errorCode(err)})`);
  }
}

/**
 * Opens an SFTP session, checking the server's host key against `host_key_sha256` before
 * anything is sent. Rejects with an {@link SftpConnectError}.
 */
export async function connectSftp(
  c: SftpConnectionConfig,
  privateKey: string | Buffer | undefined,
): Promise<SftpClient> {
  const expected = normalFingerprint(c.host_key_sha256);
  let presented: string | undefined;
  const client = new SftpClient('sinew');
  try {
    await client.connect({
      host: c.host,
      port: c.port,
      username: c.username,
      ...(c.password ? { password: c.password } : {}),
      ...(privateKey ? { privateKey } : {}),
      ...(c.passphrase ? { passphrase: c.passphrase } : {}),
      readyTimeout: c.connect_timeout_ms,
      hostVerifier: (key: Buffer) => {
        presented = hostKeyFingerprint(key);
        return presented === expected;
      },
    });
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    const where = sftpAddress(c);
    if (presented !== undefined && presented !== expected) {
      throw new SftpConnectError(
        'host_key',
        'HOST_KEY_MISMATCH',
        `${where} presented the host key ${presented}, not the pinned ${expected}; refused ` +
          '(if the server’s key really changed, check the new fingerprint with its owner and update host_key_sha256)',
      );
    }
    const message = err instanceof Error ? err.message : String(err);
    if (/authentication methods failed|authentication/i.test(message)) {
      throw new SftpConnectError('auth', 'AUTH_REFUSED', `${where} refused the login of ${c.username}`);
    }
    if (/passphrase|private key|parse/i.test(message) && privateKey) {
      throw new SftpConnectError('auth', 'BAD_PRIVATE_KEY', `the private key cannot be used: ${message}`);
    }
    const code = errorCode(err);
    throw new SftpConnectError('network', code, `cannot connect to ${where}: ${message}`);
  }
}

/**
 * The code of an SFTP operation error: ssh2-sftp-client keeps the SFTP status code (2 no such
 * file, 3 permission denied, 4 failure) or the socket error code.
 */
export function sftpErrorCode(err: unknown): string {
  if (err instanceof SftpConnectError) return err.code;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === 2) return 'NO_SUCH_FILE';
  if (code === 3) return 'PERMISSION_DENIED';
  if (code === 4) return 'SFTP_FAILURE';
  if (code === 'ERR_NOT_CONNECTED') return 'NOT_CONNECTED';
  return errorCode(err);
}

/** True when an SFTP operation error means the file is not there. */
export function isNoSuchFile(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return (
    e?.code === 2 ||
    e?.code === 'ENOENT' ||
    (typeof e?.message === 'string' && /No such file/i.test(e.message))
  );
}
