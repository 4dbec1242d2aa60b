import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { serverTlsOptions } from '@sinew/mllp';
import type { TlsOptions } from 'node:tls';
import { z } from 'zod';

/** A PEM value: the PEM text itself, or the path of a PEM file. */
function pem(description: string) {
  return z.string().min(1).describe(`${description} PEM text, or the path of a PEM file.`);
}

/** TLS settings of a listener (MLLP, HTTP). */
export const serverTlsConfig = z
  .strictObject({
    key: pem('Private key of the listener.'),
    cert: pem('Certificate (chain) of the listener.'),
    ca: pem(
      'CA certificate(s) that client certificates must be signed by (mutual TLS). Needed with `request_cert`.',
    ).optional(),
    request_cert: z
      .boolean()
      .default(false)
      .describe(
        'Mutual TLS: ask each client for a certificate and refuse clients without one signed by `ca`.',
      ),
  })
  .refine((tls) => !tls.request_cert || tls.ca !== undefined, {
    message: 'request_cert needs ca: the CA that client certificates must be signed by',
    path: ['ca'],
  });
export type ServerTlsConfig = z.output<typeof serverTlsConfig>;

/** TLS settings of an outbound connection (MLLP). */
export const clientTlsConfig = z
  .strictObject({
    ca: pem('CA certificate(s) to trust for the peer (default: the system CAs).').optional(),
    cert: pem('Client certificate, for mutual TLS (with `key`).').optional(),
    key: pem('Private key of the client certificate, for mutual TLS (with `cert`).').optional(),
    server_name: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Name the peer certificate must carry when the host in `url` is an IP address (also sent as SNI).',
      ),
  })
  .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), {
    message: 'cert and key go together (mutual TLS needs both)',
    path: ['key'],
  });
export type ClientTlsConfig = z.output<typeof clientTlsConfig>;

/** Whether an outbound `tls` setting fits its URL: TLS settings belong to https:// only. */
export function tlsFitsUrl(url: string, tls: ClientTlsConfig | undefined): boolean {
  return tls === undefined || url.toLowerCase().startsWith('https:');
}

/** Reads a PEM value: returned as is when it is PEM text, read from disk when it is a path. */
export function loadPem(value: string, field: string): Buffer {
  if (value.trimStart().startsWith('-----BEGIN')) return Buffer.from(value, 'utf8');
  try {
    return readFileSync(value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error';
    throw new Error(`${field}: cannot read the PEM file ${value} (${code})`);
  }
}

/** Node server TLS options from a listener's TLS config (TLS 1.2+, mutual TLS enforced). */
export function loadServerTls(tls: ServerTlsConfig): TlsOptions {
  return serverTlsOptions({
    key: loadPem(tls.key, 'tls.key'),
    cert: loadPem(tls.cert, 'tls.cert'),
    ...(tls.ca !== undefined ? { ca: loadPem(tls.ca, 'tls.ca') } : {}),
    requestCert: tls.request_cert,
  });
}

/** Node client TLS options from an outbound TLS config. */
export function loadClientTls(tls: ClientTlsConfig): ConnectionOptions {
  return {
    ...(tls.ca !== undefined ? { ca: loadPem(tls.ca, 'tls.ca') } : {}),
    ...(tls.cert !== undefined ? { cert: loadPem(tls.cert, 'tls.cert') } : {}),
    ...(tls.key !== undefined ? { key: loadPem(tls.key, 'tls.key') } : {}),
    ...(tls.server_name !== undefined ? { servername: tls.server_name } : {}),
  };
}

/**
 * An HTTPS agent with kept-alive connections for an outbound TLS config (the CA to trust, a
 * client certificate); undefined without one (the shared agent and the system CAs serve).
 */
export function httpsAgent(tls: ClientTlsConfig | undefined): https.Agent | undefined {
  if (tls === undefined) return undefined;
  return new https.Agent({ keepAlive: true, maxSockets: 64, ...loadClientTls(tls) });
}

/** A PEM setting given as a file path (not PEM text). */
function isPath(value: string | undefined): value is string {
  return value !== undefined && !value.trimStart().startsWith('-----BEGIN');
}

/**
 * Watches a listener's TLS files (those given as paths) and calls `reload` with the options
 * read again once they change and settle (a renewal writes the key and the certificate one
 * after the other, or swaps a symlink); `problem` when the new files cannot be used (the
 * listener keeps its current certificate). Returns a function that stops watching.
 */
export function watchServerTls(
  tls: ServerTlsConfig,
  reload: (options: TlsOptions) => void,
  problem: (err: Error) => void,
  settleMs = 200,
): () => void {
  const paths = [tls.key, tls.cert, tls.ca].filter(isPath);
  if (paths.length === 0) return () => undefined;
  let timer: NodeJS.Timeout | undefined;
  const apply = () => {
    timer = undefined;
    try {
      reload(loadServerTls(tls));
    } catch (err) {
      problem(err instanceof Error ? err : new Error(String(err)));
    }
  };
  const names = new Set(paths.map((p) => basename(p)));
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(paths.map((p) => dirname(p)))) {
    try {
      const w = watch(dir, (_event, name) => {
        if (name !== null && !names.has(String(name))) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(apply, settleMs);
      });
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      // A folder that cannot be watched: the certificate is read at start only.
    }
  }
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
