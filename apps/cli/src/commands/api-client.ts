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
