import http from 'node:http';
import https from 'node:https';
import { errorCode, isTimeout, parseRetryAfter } from './common';
import type { DeliveryOutcome } from './connector';

/** Largest response body kept with a delivery, in bytes; the rest is dropped. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** The body, cut at {@link MAX_RESPONSE_BYTES}. */
  body: Buffer;
}

export interface HttpRequestInit {
  method: string;
  headers: Record<string, string>;
  body?: Buffer | string;
  timeoutMs: number;
  /** For https:// URLs: an agent with the destination's own TLS settings (see `httpsAgent`). */
  httpsAgent?: https.Agent;
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/**
 * One HTTP exchange over node:http/https with kept-alive connections: redirects are not
 * followed (a 3xx is returned as is), and the whole exchange, body included, must finish
 * within `timeoutMs`. Throws on network failures and timeouts (see {@link networkFailure}).
 */
export function httpRequest(url: string, init: HttpRequestInit): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (err) {
      reject(err);
      return;
    }
    const secure = target.protocol === 'https:';
    const body =
      init.body === undefined
        ? undefined
        : typeof init.body === 'string'
          ? Buffer.from(init.body)
          : init.body;
    const headers: Record<string, string | number> = { ...init.headers };
    if (body !== undefined) headers['content-length'] = body.length;
    const req = (secure ? https : http).request(target, {
      method: init.method,
      headers,
      agent: secure ? (init.httpsAgent ?? agents.https) : agents.http,
    });
    const timer = setTimeout(
      () => req.destroy(new TimeoutError(`no response within ${init.timeoutMs} ms`)),
      init.timeoutMs,
    );
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        const room = MAX_RESPONSE_BYTES - size;
        if (room <= 0) return;
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        chunks.push(part);
        size += part.length;
      });
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (Array.isArray(v)) for (const x of v) h.append(k, x);
          else if (v !== undefined) h.set(k, v);
        }
        resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks, size) });
      });
    });
    req.end(body);
  });
}

/** A network failure or timeout of {@link httpRequest} as a `retry` outcome. */
export function networkFailure(err: unknown, url: string, timeoutMs: number): DeliveryOutcome {
  if (isTimeout(err)) {
    return {
      status: 'retry',
      code: 'TIMEOUT',
      error: `no complete response from ${url} within ${timeoutMs} ms`,
    };
  }
  const code = errorCode(err);
  return { status: 'retry', code, error: `request to ${url} failed (${code})` };
}

/** Statuses worth another attempt: timeouts, rate limits and server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * The outcome for an HTTP status: 2xx `sent`; 408, 429 and 5xx `retry` (with Retry-After);
 * anything else `failed`. `detail` explains a failure (e.g. an OperationOutcome's diagnostics).
 */
export function outcomeForStatus(res: HttpResponse, detail?: string): DeliveryOutcome {
  const code = `HTTP ${res.status}`;
  const response = res.body;
  if (res.status >= 200 && res.status < 300) return { status: 'sent', code, response };
  const error = `the receiver answered ${code}${detail ? `: ${detail}` : ''}`;
  if (isRetryableStatus(res.status)) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    return {
      status: 'retry',
      code,
      error,
      response,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location');
    return {
      status: 'failed',
      code,
      error: `the receiver redirected the request${location ? ` to ${location}` : ''}; configure the final address`,
      response,
    };
  }
  return { status: 'failed', code, error, response };
}
