import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

/**
 * PostgreSQL for tests, never mocked:
 *
 * - {@link postgresUrl}: `DATABASE_URL` when set; else the local server
 *   `postgres://postgres@127.0.0.1:5432/postgres` when it answers; else a throwaway cluster
 *   started once per test process (see {@link startThrowawayPostgres}).
 * - {@link withTestSchema}: a fresh schema on that server for one test file, dropped by
 *   `drop()`; pass `schema` to `openStore` so its tables and migrations live there.
 */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

let shared: Promise<string> | undefined;

export function postgresUrl(): Promise<string> {
  shared ??= resolveUrl();
  return shared;
}

async function resolveUrl(): Promise<string> {
  const fromEnv = process.env.DATABASE_URL?.trim();
  if (fromEnv) return fromEnv;
  if (await answers(LOCAL_POSTGRES_URL)) return LOCAL_POSTGRES_URL;
  return (await startThrowawayPostgres()).url;
}

/** Whether a server answers `SELECT 1` at `url` within `timeoutMs`. */
export async function answers(url: string, timeoutMs = 2000): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface TestSchema {
  /** The server's URL (unchanged: the schema is selected by name). */
  url: string;
  /** `test_<random>`: created, empty. */
  schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/** Creates an empty schema with a random name on the server at `url`. */
export async function withTestSchema(url?: string): Promise<TestSchema> {
  const serverUrl = url ?? (await postgresUrl());
  const schema = `test_${randomBytes(6).toString('hex')}`;
  await adminQuery(serverUrl, `CREATE SCHEMA "${schema}"`);
  return {
    url: serverUrl,
    schema,
    drop: async () => {
      await adminQuery(serverUrl, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}

/** Runs one statement on its own connection. */
export async function adminQuery(url: string, sql: string, params: unknown[] = []): Promise<unknown[]> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as unknown[];
  } finally {
    await client.end();
  }
}

export interface ThrowawayPostgres {
  url: string;
  port: number;
  /** Stops the server, keeping its data (a restart follows with {@link ThrowawayPostgres.start}). */
  stopServer(): Promise<void>;
  /** Starts the stopped server again on the same port. */
  start(): Promise<void>;
  /** Stops the server and deletes the cluster. */
  destroy(): Promise<void>;
}

/**
 * Creates and starts a PostgreSQL cluster in a temporary directory on a free loopback port,
 * using the Debian binaries under /usr/lib/postgresql/<version>/bin. PostgreSQL refuses to
 * run as root, so as root the binaries run as user `postgres` (runuser) in a directory
 * owned by that user. A watchdog shell stops the server and deletes the directory when
 * this process ends, however it ends.
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'sinew-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gids = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (ids.status !== 0) throw new Error('a throwaway PostgreSQL needs the system user postgres');
    chownSync(dir, Number(ids.stdout.trim()), Number(gids.stdout.trim()));
  }
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];

  const run = (tool: string, args: string[]) => {
    const [cmd, argv] = command(tool, args);
    const result = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) {
      throw new Error(`${tool} failed (${result.status}): ${result.stderr || result.stdout}`);
    }
  };

  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const startArgs = [
    '-D',
    data,
    '-l',
    join(dir, 'server.log'),
    '-w',
    '-t',
    '60',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
    'start',
  ];
  const stopArgs = ['-D', data, '-m', 'fast', '-w', 'stop'];
  run('pg_ctl', startArgs);

  const [stopCmd, stopArgv] = command('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
  const watchdog = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
        `${[stopCmd, ...stopArgv].map(shellQuote).join(' ')} >/dev/null 2>&1; rm -rf ${shellQuote(dir)}`,
    ],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();

  let destroyed = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stopServer: async () => run('pg_ctl', stopArgs),
    start: async () => run('pg_ctl', startArgs),
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      const [cmd, argv] = command('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      spawnSync(cmd, argv, { stdio: 'ignore', timeout: 60_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The newest /usr/lib/postgresql/<version>/bin that holds initdb and pg_ctl. */
function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter(
          (v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')),
        )
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(
      'no PostgreSQL server to test against: set DATABASE_URL, run one on 127.0.0.1:5432, ' +
        'or install the Debian package postgresql (initdb and pg_ctl under /usr/lib/postgresql)',
    );
  }
  return join(root, newest, 'bin');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
