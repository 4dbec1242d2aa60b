import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createConnection } from 'mysql2/promise';
import { Client } from 'pg';
import { mysqlServerUrl } from './mariadb';
import { postgresUrl } from './postgres';

export type Dialect = 'postgres' | 'mysql' | 'sqlite';

/**
 * Real databases for the `database` connector tests: each test gets a database of its own
 * (PostgreSQL and MariaDB: `CREATE DATABASE sinew_t_<random>`, dropped afterwards; SQLite: a
 * file in a temporary folder). The MariaDB server: see `mysqlServerUrl` (./mariadb.ts).
 */
export interface TestDatabase {
  dialect: Dialect;
  /** The URL the connector is given. */
  url: string;
  /** Runs one statement (`?` placeholders) on a connection of its own; resolves with the rows. */
  sql(text: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** The type of a microsecond time column in this dialect. */
  timeType: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  const name = `sinew_t_${randomBytes(6).toString('hex')}`;
  if (dialect === 'postgres') {
    const server = await postgresUrl();
    await pgQuery(server, `CREATE DATABASE ${name}`);
    const url = withDatabase(server, name);
    return {
      dialect,
      url,
      timeType: 'timestamptz(6)',
      sql: (text, params = []) => {
        let n = 0;
        return pgQuery(
          url,
          text.replace(/\?/g, () => `$${++n}`),
          params,
        );
      },
      drop: async () => {
        await pgQuery(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  }
  if (dialect === 'mysql') {
    const server = await mysqlServerUrl();
    await mysqlQuery(server, `CREATE DATABASE ${name}`);
    const url = withDatabase(server, name);
    return {
      dialect,
      url,
      timeType: 'DATETIME(6)',
      sql: (text, params = []) => mysqlQuery(url, text, params),
      drop: async () => {
        await mysqlQuery(server, `DROP DATABASE IF EXISTS ${name}`);
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'sinew-db-'));
  const file = join(dir, `${name}.db`);
  writeFileSync(file, '');
  return {
    dialect,
    url: `sqlite:${file}`,
    timeType: 'TEXT',
    sql: async (text, params = []) => {
      const db = new Database(file, { timeout: 5_000 });
      try {
        const statement = db.prepare(text);
        if (statement.reader) return statement.all(...params) as Array<Record<string, unknown>>;
        statement.run(...params);
        return [];
      } finally {
        db.close();
      }
    },
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function pgQuery(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<Array<Record<string, unknown>>> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(text, params)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

async function mysqlQuery(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<Array<Record<string, unknown>>> {
  const conn = await createConnection({ uri: url, dateStrings: true });
  try {
    const [rows] = await conn.query(text, params);
    return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [];
  } finally {
    await conn.end();
  }
}

/**
 * A TCP relay on a loopback port to a database server: `down()` closes it and cuts every
 * connection (the server seems gone), `up()` listens again on the same port.
 */
export class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** `url` with its host and port replaced by the relay's. */
  via(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }
}
