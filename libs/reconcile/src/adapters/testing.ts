/**
 * Throwaway databases for the sql adapter's integration tests and benchmark: a database of its
 * own on the PostgreSQL server (`DATABASE_URL` or the local one) and on MariaDB (`MYSQL_URL`,
 * default mysql://root@127.0.0.1:3306), dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import { mysqlServerUrl } from '../../../../test/support/mariadb';

export interface TestDatabase {
  /** The database's URL. */
  url: string;
  /** Runs statements (setup). */
  exec(sql: string, values?: unknown[]): Promise<void>;
  drop(): Promise<void>;
}

export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306';

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function createPostgresDatabase(serverUrl: string): Promise<TestDatabase> {
  const name = `recon_${randomBytes(5).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = withDatabase(serverUrl, name);
  const client = new Client({ connectionString: url });
  await client.connect();
  return {
    url,
    exec: async (sql, values) => {
      await client.query(sql, values);
    },
    drop: async () => {
      await client.end();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

export async function createMysqlDatabase(serverUrl?: string): Promise<TestDatabase> {
  serverUrl ??= await mysqlServerUrl();
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ uri: serverUrl, connectTimeout: 5000 });
  } catch (err) {
    throw new Error(
      `MariaDB/MySQL is not reachable at ${serverUrl.replace(/:[^:@/]*@/, '@')} (${(err as { code?: string }).code ?? err}): ` +
        'start it or set MYSQL_URL; these tests need a real server',
    );
  }
  const name = `recon_${randomBytes(5).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  await admin.query(`USE ${name}`);
  return {
    url: withDatabase(serverUrl, name),
    exec: async (sql, values) => {
      await admin.query(sql, values);
    },
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    },
  };
}
