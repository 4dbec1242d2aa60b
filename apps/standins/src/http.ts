import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a stand-in answered: no body, no headers. */
export interface ReceivedRequest {
  method: string;
  /** The request target as received: path and query string. */
  path: string;
  /** The HTTP status answered; 0 when the connection was closed without an answer. */
  status: number;
}

/** What {@link FailureSwitch.set} makes a stand-in do instead of its normal answer. */
export type Failure =
  /** Answer this HTTP status with an error body (OperationOutcome for the EHR, JSON for the PMS). */
  | number
  /** Close the connection without answering. */
  | 'reset';

export interface FailureOptions {
  /** Fail this many requests, then answer normally again. Without it: until cleared. */
  times?: number;
  /** Seconds sent in a Retry-After header with the failure (status failures only). */
  retryAfterS?: number;
}

/**
 * A runtime-switchable fault: while set, every request is answered with the failure instead
 * of being processed (nothing is stored).
 */
export class FailureSwitch {
  private failure: Failure | undefined;
  private remaining: number | undefined;
  private retryAfterS: number | undefined;

  set(failure: Failure | undefined, opts: FailureOptions = {}): void {
    if (typeof failure === 'number' && (!Number.isInteger(failure) || failure < 100 || failure > 599)) {
      throw new RangeError(`a failure status must be an HTTP status (100-599), got ${failure}`);
    }
    if (opts.times !== undefined && (!Number.isInteger(opts.times) || opts.times < 1)) {
      throw new RangeError(`times must be a positive integer, got ${opts.times}`);
    }
    this.failure = failure;
    this.remaining = failure === undefined ? undefined : opts.times;
    this.retryAfterS = opts.retryAfterS;
  }

  /** The failure for the request being answered now (and counts it down), or undefined. */
  take(): { failure: Failure; retryAfterS: number | undefined } | undefined {
    const failure = this.failure;
    if (failure === undefined) return undefined;
    const retryAfterS = this.retryAfterS;
    if (this.remaining !== undefined) {
      this.remaining -= 1;
      if (this.remaining <= 0) this.set(undefined);
    }
    return { failure, retryAfterS };
  }
}

/** Records each answered request once its answer is sent (or its connection closed). */
export function trackRequest(req: IncomingMessage, res: ServerResponse, requests: ReceivedRequest[]): void {
  const entry = { method: req.method ?? 'GET', path: req.url ?? '/' };
  let recorded = false;
  const record = (status: number): void => {
    if (recorded) return;
    recorded = true;
    requests.push({ ...entry, status });
  };
  res.on('finish', () => record(res.statusCode));
  res.on('close', () => record(res.writableFinished ? res.statusCode : 0));
}

/** The request body was larger than the stand-in accepts. */
export class BodyTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`request body larger than ${limitBytes} bytes`);
  }
}

/** Reads a request body up to `limitBytes`. */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limitBytes) {
        failed = true;
        reject(new BodyTooLargeError(limitBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (failed) return;
      failed = true;
      reject(err);
    });
  });
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(header: string | undefined): string | undefined {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return type ? type : undefined;
}

/** Whether `Authorization: Bearer <token>` carries the expected token. */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization;
  if (!header) return false;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1] === token;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    ...(payload ? { 'content-type': `${contentType}; charset=utf-8` } : {}),
    'content-length': String(Buffer.byteLength(payload)),
  });
  res.end(payload);
}

export interface Listening {
  server: Server;
  host: string;
  port: number;
  /** Stops accepting, closes open connections, resolves once the server is closed. */
  stop(): Promise<void>;
}

/**
 * Starts an HTTP server on host:port (port 0: a free one). Each request goes to `handle`;
 * `handle` must answer or destroy the socket itself. An exception `handle` lets escape gets a
 * bare 500 and never stops the server.
 */
export function listen(
  host: string,
  port: number,
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<Listening> {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('internal error');
      } else {
        res.destroy();
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      let stopping: Promise<void> | undefined;
      resolve({
        server,
        host,
        port: address.port,
        stop: () => {
          stopping ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return stopping;
        },
      });
    });
  });
}

/** The host part of a URL for a listener bound to `host` (IPv6 in brackets; any-address → loopback). */
export function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
