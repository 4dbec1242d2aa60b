/**
 * The CLI's side of the admin API: `--server URL` with the key in `SINEW_TOKEN`. A refusal is
 * printed as the problem the server answered (`403 scope.required: …`) and exits 1.
 */
export interface ServerOptions {
  server?: string;
}

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The problem document the server answered, when it answered one. */
    readonly problem?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** The server's base URL, checked, or a usage error (exit 2). */
export function serverUrl(command: string, server: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    process.stderr.write(`sinew ${command}: --server must be a URL such as http://127.0.0.1:8080\n`);
    process.exit(2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    process.stderr.write(`sinew ${command}: --server must be an http:// or https:// URL\n`);
    process.exit(2);
  }
  return url;
}

/** Calls the admin API; resolves with the JSON body of a 2xx answer. */
export async function callApi<T>(
  command: string,
  server: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<T> {
  const token = process.env.SINEW_TOKEN;
  if (!token) {
    process.stderr.write(
      `sinew ${command}: set SINEW_TOKEN to an API key (sinew keys create) to use --server\n`,
    );
    process.exit(2);
  }
  const url = new URL(path, serverUrl(command, server));
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new ApiCallError(0, `cannot reach ${url.origin}: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text.slice(0, 300);
    let problem: Record<string, unknown> | undefined;
    try {
      problem = JSON.parse(text) as Record<string, unknown>;
      const p = problem as {
        code?: string;
        detail?: string;
        invalid_params?: Array<{ name: string; reason: string }>;
      };
      detail = [p.code, p.detail, ...(p.invalid_params ?? []).map((i) => `${i.name}: ${i.reason}`)]
        .filter(Boolean)
        .join(': ');
    } catch {
      // not a problem document: its first bytes say enough
    }
    throw new ApiCallError(res.status, `${res.status} ${detail}`, problem);
  }
  return JSON.parse(text) as T;
}

/** Runs a command's work, printing an API refusal as `sinew <command>: <status> <problem>` (exit 1). */
export async function withApiErrors(command: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (!(err instanceof ApiCallError)) throw err;
    process.stderr.write(`sinew ${command}: ${err.message}\n`);
    process.exitCode = 1;
  }
}

/**
 * Calls a streamed admin API route (an export) and copies its body to `out` as it arrives,
 * waiting whenever `out` is full, so a large export never sits in memory. A refusal throws as
 * `callApi` does; a transfer cut short rejects.
 */
export async function streamApi(
  command: string,
  server: string,
  path: string,
  out: NodeJS.WritableStream,
): Promise<void> {
  const token = process.env.SINEW_TOKEN;
  if (!token) {
    process.stderr.write(
      `sinew ${command}: set SINEW_TOKEN to an API key (sinew keys create) to use --server\n`,
    );
    process.exit(2);
  }
  const url = new URL(path, serverUrl(command, server));
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    throw new ApiCallError(0, `cannot reach ${url.origin}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) {
    const text = await res.text();
    let detail = text.slice(0, 300);
    try {
      const p = JSON.parse(text) as { code?: string; detail?: string };
      detail = [p.code, p.detail].filter(Boolean).join(': ');
    } catch {
      // not a problem document: its first bytes say enough
    }
    throw new ApiCallError(res.status, `${res.status} ${detail}`);
  }
  await writeAll(res.body, out);
}

/**
 * Writes chunks to a Node writable as they come, waiting whenever it is full (or until it
 * closes, e.g. a pipe whose reader went away, which stops the copy).
 */
export async function writeAll(
  chunks: AsyncIterable<Uint8Array | string>,
  out: NodeJS.WritableStream,
): Promise<void> {
  let closed = false;
  const onClose = () => {
    closed = true;
  };
  out.once('close', onClose);
  try {
    for await (const chunk of chunks) {
      if (closed) return;
      if (!out.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            out.removeListener('drain', done);
            out.removeListener('close', done);
            out.removeListener('error', done);
            resolve();
          };
          out.on('drain', done);
          out.on('close', done);
          out.on('error', done);
        });
      }
    }
  } finally {
    out.removeListener('close', onClose);
  }
}
