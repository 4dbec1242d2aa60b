import { readFileSync, watch, type FSWatcher } from 'node:fs';
import type { ServerOptions } from 'node:https';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { EngineLogger } from '@sinew/engine';

/** TLS of the engine's HTTP listener (the admin API, /health, /ready, /metrics). */
export interface ListenerTls {
  certPath: string;
  keyPath: string;
  /** CA of client certificates (mutual TLS). */
  caPath?: string;
  /** `request`: ask for a client certificate; `require`: refuse a client without one signed by the CA. */
  clientCert: 'none' | 'request' | 'require';
}

interface Material {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

function read(tls: ListenerTls): Material {
  return {
    cert: readFileSync(tls.certPath),
    key: readFileSync(tls.keyPath),
    ...(tls.caPath ? { ca: readFileSync(tls.caPath) } : {}),
  };
}

/** When the first certificate of a PEM chain expires. */
export function certificateExpiry(pem: Buffer): Date {
  return new Date(new X509Certificate(pem).validTo);
}

/** Options for Nest's HTTPS server, read from the files (a bad file stops start-up with its path). */
export function httpsOptions(
  tls: ListenerTls,
): Material & Pick<ServerOptions, 'requestCert' | 'rejectUnauthorized' | 'minVersion'> & { expiry: Date } {
  let m: Material;
  try {
    m = read(tls);
    createSecureContext(m);
  } catch (err) {
    throw new Error(`the HTTP listener's TLS files cannot be used: ${(err as Error).message}`);
  }
  return {
    ...m,
    requestCert: tls.clientCert !== 'none',
    rejectUnauthorized: tls.clientCert === 'require',
    expiry: certificateExpiry(m.cert),
  };
}

/**
 * Loads the certificate, key and CA again whenever one of their files changes (a renewal by
 * certbot or a secret mount), without a restart: new connections get the new certificate,
 * open ones keep theirs. Files that do not make a valid pair leave the current ones in place
 * with a warning. Returns a function that stops watching.
 */
export function reloadOnChange(
  server: TlsServer,
  tls: ListenerTls,
  logger: EngineLogger,
  loaded: (expiry: Date) => void,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    timer = undefined;
    try {
      const m = read(tls);
      server.setSecureContext(m);
      const expiry = certificateExpiry(m.cert);
      loaded(expiry);
      logger.info(
        { cert: tls.certPath, expires: expiry.toISOString() },
        'HTTP listener certificate reloaded',
      );
    } catch (err) {
      logger.warn(
        { cert: tls.certPath, err: (err as Error).message },
        'HTTP listener certificate files changed but cannot be used; the current certificate stays',
      );
    }
  };
  const watchers: FSWatcher[] = [];
  // The folders are watched (a renewal often replaces the file, or a symlink, rather than writing it).
  const paths = [tls.certPath, tls.keyPath, ...(tls.caPath ? [tls.caPath] : [])];
  const dirs = new Set(paths.map((p) => p.slice(0, Math.max(0, p.lastIndexOf('/'))) || '/'));
  const names = new Set(paths.map((p) => p.slice(p.lastIndexOf('/') + 1)));
  for (const dir of dirs) {
    const w = watch(dir, (_event, name) => {
      if (name !== null && !names.has(String(name))) return;
      // Writers replace a pair in two steps: load once both have settled.
      if (timer) clearTimeout(timer);
      timer = setTimeout(reload, 200);
    });
    w.on('error', () => undefined);
    watchers.push(w);
  }
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
