import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions, TlsOptions } from 'node:tls';

/**
 * TLS settings of a server: Node's `tls.createServer` options. `key` and `cert` are required;
 * for mutual TLS set `requestCert: true` and give the clients' CA in `ca` (unauthorised
 * clients are then refused unless `rejectUnauthorized` is set to false).
 */
export type MllpServerTlsOptions = TlsOptions;

/**
 * TLS settings of a client: Node's `tls.connect` options (`ca` to trust a private CA, `cert`
 * and `key` for mutual TLS), or `true` for the system's trusted CAs and no client certificate.
 */
export type MllpClientTlsOptions = ConnectionOptions | true;

/** TLS 1.2 is the oldest version Sinew speaks. */
const MIN_VERSION = 'TLSv1.2';

/** The server options Sinew uses: TLS 1.2 or later; a requested certificate is required. */
export function serverTlsOptions(options: MllpServerTlsOptions): TlsOptions {
  return {
    minVersion: MIN_VERSION,
    ...options,
    rejectUnauthorized: options.requestCert
      ? (options.rejectUnauthorized ?? true)
      : options.rejectUnauthorized,
  };
}

/**
 * The client options Sinew uses: TLS 1.2 or later, the server's certificate checked against
 * `host` (SNI is sent when `host` is a name rather than an address).
 */
export function clientTlsOptions(host: string, options: MllpClientTlsOptions): ConnectionOptions {
  const given = options === true ? {} : options;
  return {
    minVersion: MIN_VERSION,
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...given,
  };
}

/** Paths of PEM files, as a command line or a configuration file names them. */
export interface TlsFilePaths {
  ca?: string;
  cert?: string;
  key?: string;
}

/** Reads the PEM files named in `paths` (only those given). */
export function readTlsFiles(paths: TlsFilePaths): Pick<ConnectionOptions, 'ca' | 'cert' | 'key'> {
  const out: Pick<ConnectionOptions, 'ca' | 'cert' | 'key'> = {};
  if (paths.ca) out.ca = readFileSync(paths.ca);
  if (paths.cert) out.cert = readFileSync(paths.cert);
  if (paths.key) out.key = readFileSync(paths.key);
  return out;
}
