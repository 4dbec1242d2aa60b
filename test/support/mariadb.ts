import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { freePort } from './postgres';

/**
 * MariaDB/MySQL for tests, never mocked: `MYSQL_URL` when set; else the local server
 * `mysql://root@127.0.0.1:3306/` when it answers; else a throwaway MariaDB started once per
 * test process from the Debian binaries (mariadb-install-db, mariadbd) in a temporary folder,
 * on a free loopback port, stopped and deleted when the process ends.
 */
export const LOCAL_MYSQL_URL = 'mysql://root@127.0.0.1:3306/';

let shared: Promise<string> | undefined;

export function mysqlServerUrl(): Promise<string> {
  shared ??= resolveUrl();
  return shared;
}

async function resolveUrl(): Promise<string> {
  const fromEnv = process.env.MYSQL_URL?.trim();
  if (fromEnv) return fromEnv;
  if (await answers(LOCAL_MYSQL_URL)) return LOCAL_MYSQL_URL;
  return startThrowawayMariadb();
}

async function answers(url: string): Promise<boolean> {
  try {
    const conn = await createConnection({ uri: url, connectTimeout: 2_000 });
    await conn.query('SELECT 1');
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

async function startThrowawayMariadb(): Promise<string> {
  const server = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld'].find((p) => existsSync(p));
  const install = ['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db'].find((p) => existsSync(p));
  if (!server || !install) {
    throw new Error(
      'no MariaDB/MySQL server to test against: set MYSQL_URL, run one on 127.0.0.1:3306, ' +
        'or install the Debian package mariadb-server (mariadb-install-db and mariadbd)',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'sinew-mariadb-'));
  // As root the server runs as the system user mysql, in a folder that user owns.
  const asRoot = process.getuid?.() === 0;
  const user: string[] = [];
  if (asRoot) {
    const uid = spawnSync('id', ['-u', 'mysql'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'mysql'], { encoding: 'utf8' });
    if (uid.status !== 0) throw new Error('a throwaway MariaDB run as root needs the system user mysql');
    chownSync(dir, Number(uid.stdout.trim()), Number(gid.stdout.trim()));
    user.push('--user=mysql');
  }
  const data = join(dir, 'data');
  const installed = spawnSync(
    install,
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...user,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (installed.status !== 0) {
    throw new Error(
      `mariadb-install-db failed (${installed.status}): ${installed.stderr || installed.stdout}`,
    );
  }
  const port = await freePort();
  const child = spawn(
    server,
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${join(dir, 'mariadb.sock')}`,
      `--pid-file=${join(dir, 'mariadb.pid')}`,
      '--skip-log-bin',
      '--innodb-flush-log-at-trx-commit=0',
      ...user,
    ],
    { stdio: 'ignore', detached: true },
  );
  child.unref();
  // Stops the server and deletes its folder when this process ends, however it ends.
  spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${child.pid} 2>/dev/null; ` +
        `sleep 2; kill -9 ${child.pid} 2>/dev/null; rm -rf ${quote(dir)}`,
    ],
    { detached: true, stdio: 'ignore' },
  ).unref();
  const url = `mysql://root@127.0.0.1:${port}/`;
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (await answers(url)) return url;
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`the throwaway MariaDB did not answer on port ${port} within 60 s`);
}
