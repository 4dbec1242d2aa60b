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
}

/**
 * One HTTP exchange with Node's fetch: redirects are not followed (a 3xx is returned as is),
 * and the whole exchange, body included, must finish within `timeoutMs`. Throws on network
 * failures and timeouts (see {@link networkFailure}).
 */
export async function httpRequest(url: string, init: HttpRequestInit): Promise<HttpResponse> {
  const res = await fetch(url, {
    method: init.method,
    headers: init.headers,
    ...(init.body !== undefined ? { body: init.body } : {}),
    redirect: 'manual',
    signal: AbortSignal.timeout(init.timeoutMs),
  });
  return { status: res.status, headers: res.headers, body: await readCapped(res) };
}

async function readCapped(res: Response): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = MAX_RESPONSE_BYTES - size;
    chunks.push(Buffer.from(value.buffer, value.byteOffset, Math.min(value.byteLength, room)));
    size += Math.min(value.byteLength, room);
    if (value.byteLength >= room) {
      await reader.cancel();
      break;
    }
  }
  return Buffer.concat(chunks, size);
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
