import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { createPool as createMysqlPool, type Pool as MysqlPool, type PoolConnection } from 'mysql2/promise';
import { Pool as PgPool, types as pgTypes, type PoolClient } from 'pg';
import { z } from 'zod';

/**
 * One small port over the three databases the `database` connectors speak: PostgreSQL (pg),
 * MySQL/MariaDB (mysql2) and SQLite (better-sqlite3). Statements are written with `?`
 * placeholders and values are always bound, never spliced into the text.
 */

export type Dialect = 'postgres' | 'mysql' | 'sqlite';

/** A value bound to a placeholder. */
export type BindValue = string | number | bigint | boolean | Buffer | null;

/** A row as read: column name → value (text, number, Buffer, null). */
export type Row = Record<string, unknown>;

export interface SqlRunner {
  /** Runs one statement with `?` placeholders; resolves with the rows it returned (if any). */
  query(sql: string, params: readonly BindValue[]): Promise<Row[]>;
}

export interface DatabaseClient extends SqlRunner {
  readonly dialect: Dialect;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it rejects. */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /** Quotes an identifier (checked beforehand by `IDENTIFIER`). */
  quote(identifier: string): string;
  close(): Promise<void>;
}

/** A table or column name: letters, digits, `_`, `$`, optionally `schema.name`. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

/** The connection settings shared by the database source and destination. */
export const databaseConnectionFields = {
  url: z
    .string()
    .min(1)
    .refine((u) => dialectOf(u) !== undefined, {
      message:
        'expected postgres://USER@HOST:PORT/DB, mysql://USER@HOST:PORT/DB (or mariadb://…), or sqlite:/path/to/file.db',
    })
    .describe(
      'Where the database is: `postgres://user@host:5432/db`, `mysql://user@host:3306/db` (also `mariadb://`) ' +
        'or `sqlite:/path/to/file.db`. Write a password as `${ENV_VAR}` or use `password_file`; it never appears in logs.',
    ),
  password_file: z
    .string()
    .min(1)
    .optional()
    .describe(
      'A file holding the password (first line), read when the channel starts; replaces the one in `url`.',
    ),
  connect_timeout_ms: z
    .number()
    .int()
    .positive()
    .default(5_000)
    .describe('How long to wait for a connection before the attempt counts as failed.'),
};

export interface ConnectionSettings {
  url: string;
  password_file?: string | undefined;
  connect_timeout_ms: number;
}

export function dialectOf(url: string): Dialect | undefined {
  if (/^postgres(ql)?:\/\//i.test(url)) return 'postgres';
  if (/^(mysql|mariadb):\/\//i.test(url)) return 'mysql';
  if (/^sqlite:/i.test(url)) return 'sqlite';
  return undefined;
}

/** The URL with credentials removed, for logs and `describe()`. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

function sqlitePath(url: string): string {
  const rest = url.replace(/^sqlite:/i, '');
  // sqlite:///abs/path and sqlite:/abs/path name the same file; sqlite:relative is relative.
  return rest.startsWith('//') ? rest.slice(2) : rest;
}

/**
 * `:name` parameters as `?` placeholders, with the names in order (a name may repeat). A
 * PostgreSQL cast (`::text`) and anything quoted or commented are left alone.
 */
export function compileNamed(sql: string): { sql: string; names: string[] } {
  const names: string[] = [];
  const text = mapOutsideQuotes(sql, (chunk) =>
    chunk.replace(/(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => {
      names.push(name);
      return '?';
    }),
  );
  return { sql: text, names };
}

/** `?` placeholders as `$1`, `$2` … for PostgreSQL, skipping quoted text and comments. */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return mapOutsideQuotes(sql, (chunk) => chunk.replace(/\?/g, () => `$${++n}`));
}

/**
 * Applies `fn` to the parts of `sql` outside string literals, quoted identifiers and comments.
 * Handles `'…'` (with `''`), `"…"`, `` `…` ``, `-- …` and `/* … *\/`.
 */
export function mapOutsideQuotes(sql: string, fn: (chunk: string) => string): string {
  let out = '';
  let plain = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    let end = -1;
    if (c === "'" || c === '"' || c === '`') {
      end = i + 1;
      for (;;) {
        const j = sql.indexOf(c, end);
        if (j < 0) {
          end = sql.length;
          break;
        }
        if (sql[j + 1] === c) {
          end = j + 2;
          continue;
        }
        end = j + 1;
        break;
      }
    } else if (c === '-' && sql[i + 1] === '-') {
      const j = sql.indexOf('\n', i);
      end = j < 0 ? sql.length : j;
    } else if (c === '/' && sql[i + 1] === '*') {
      const j = sql.indexOf('*/', i + 2);
      end = j < 0 ? sql.length : j + 2;
    }
    if (end < 0) {
      plain += c;
      i++;
      continue;
    }
    out += fn(plain) + sql.slice(i, end);
    plain = '';
    i = end;
  }
  return out + fn(plain);
}

function password(settings: ConnectionSettings): string | undefined {
  if (!settings.password_file) return undefined;
  const text = readFileSync(settings.password_file, 'utf8');
  return text.split(/\r?\n/)[0] ?? '';
}

// PostgreSQL: times, dates, 64-bit integers and numerics are read as the server writes them
// (text), so a high-water mark keeps its full precision (microseconds) when bound back.
const PG_TEXT_TYPES = new Set([
  pgTypes.builtins.TIMESTAMP,
  pgTypes.builtins.TIMESTAMPTZ,
  pgTypes.builtins.DATE,
  pgTypes.builtins.TIME,
  pgTypes.builtins.TIMETZ,
  pgTypes.builtins.INT8,
  pgTypes.builtins.NUMERIC,
]);
const pgTypeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    PG_TEXT_TYPES.has(oid) && format !== 'binary'
      ? (value: string) => value
      : pgTypes.getTypeParser(oid, format)) as typeof pgTypes.getTypeParser,
};

class PostgresClient implements DatabaseClient {
  readonly dialect = 'postgres' as const;
  private readonly pool: PgPool;

  constructor(settings: ConnectionSettings) {
    const pw = password(settings);
    this.pool = new PgPool({
      connectionString: settings.url,
      ...(pw !== undefined ? { password: pw } : {}),
      connectionTimeoutMillis: settings.connect_timeout_ms,
      max: 2,
      types: pgTypeParsers,
    });
    // An idle connection the server dropped is discarded by the pool; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async query(sql: string, params: readonly BindValue[]): Promise<Row[]> {
    const result = await this.pool.query(numberPlaceholders(sql), params as unknown[]);
    return result.rows as Row[];
  }

  async transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const value = await fn({
        query: async (sql, params) =>
          (await client.query(numberPlaceholders(sql), params as unknown[])).rows as Row[],
      });
      await client.query('COMMIT');
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  quote(identifier: string): string {
    return identifier
      .split('.')
      .map((p) => `"${p}"`)
      .join('.');
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

class MysqlClient implements DatabaseClient {
  readonly dialect = 'mysql' as const;
  private readonly pool: MysqlPool;

  constructor(settings: ConnectionSettings) {
    const pw = password(settings);
    const url = new URL(settings.url.replace(/^mariadb:/i, 'mysql:'));
    this.pool = createMysqlPool({
      host: url.hostname,
      port: url.port ? Number(url.port) : 3306,
      user: decodeURIComponent(url.username) || 'root',
      password: pw ?? decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined,
      connectTimeout: settings.connect_timeout_ms,
      connectionLimit: 2,
      // Times and big numbers as the server writes them: a mark keeps its full precision.
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
  }

  async query(sql: string, params: readonly BindValue[]): Promise<Row[]> {
    // execute: a server-side prepared statement, the values sent apart from the text.
    const [rows] = await this.pool.execute(sql, [...params]);
    return Array.isArray(rows) ? (rows as Row[]) : [];
  }

  async transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
    const conn: PoolConnection = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      const value = await fn({
        query: async (sql, params) => {
          const [rows] = await conn.execute(sql, [...params]);
          return Array.isArray(rows) ? (rows as Row[]) : [];
        },
      });
      await conn.commit();
      return value;
    } catch (err) {
      await conn.rollback().catch(() => conn.destroy());
      throw err;
    } finally {
      conn.release();
    }
  }

  quote(identifier: string): string {
    return identifier
      .split('.')
      .map((p) => `\`${p}\``)
      .join('.');
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * SQLite through better-sqlite3 (synchronous): one connection, so operations take turns (a
 * transaction holds the connection until it commits or rolls back; another caller waits).
 */
class SqliteClient implements DatabaseClient {
  readonly dialect = 'sqlite' as const;
  private db: Database.Database | undefined;
  private turn: Promise<unknown> = Promise.resolve();
  private readonly path: string;
  private readonly timeoutMs: number;

  constructor(settings: ConnectionSettings) {
    this.path = sqlitePath(settings.url);
    this.timeoutMs = settings.connect_timeout_ms;
  }

  /** Opened on first use (and again after a failure), so a missing file is a retryable error. */
  private open(): Database.Database {
    this.db ??= new Database(this.path, { fileMustExist: true, timeout: this.timeoutMs });
    return this.db;
  }

  private run(db: Database.Database, sql: string, params: readonly BindValue[]): Row[] {
    const values = params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
    const statement = db.prepare(sql);
    if (statement.reader) return statement.all(...values) as Row[];
    statement.run(...values);
    return [];
  }

  /** Runs `fn` once every operation started before it has settled. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.turn.then(fn, fn);
    this.turn = result.catch(() => undefined);
    return result;
  }

  query(sql: string, params: readonly BindValue[]): Promise<Row[]> {
    return this.exclusive(async () => this.run(this.open(), sql, params));
  }

  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const db = this.open();
      db.exec('BEGIN IMMEDIATE');
      try {
        const value = await fn({ query: async (sql, params) => this.run(db, sql, params) });
        db.exec('COMMIT');
        return value;
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  quote(identifier: string): string {
    return identifier
      .split('.')
      .map((p) => `"${p}"`)
      .join('.');
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      this.db?.close();
      this.db = undefined;
    });
  }
}

export function openDatabase(settings: ConnectionSettings): DatabaseClient {
  switch (dialectOf(settings.url)) {
    case 'postgres':
      return new PostgresClient(settings);
    case 'mysql':
      return new MysqlClient(settings);
    case 'sqlite':
      return new SqliteClient(settings);
    default:
      throw new Error('database: unsupported URL scheme (postgres://, mysql://, mariadb://, sqlite:)');
  }
}

/**
 * What a database error means for the message: `retry` when the database could not be
 * reached, refused the login, or asked to try again (connection refused or lost, deadlock,
 * lock timeout, serialisation failure, too many connections), `failed` otherwise (a constraint violated,
 * a bad value, an unknown table). `code` is the database's own code (SQLSTATE, `ER_…`,
 * `SQLITE_…`) or the socket error's; `text` never includes row values.
 */
export function classifyDatabaseError(err: unknown): { retry: boolean; code: string; text: string } {
  const e = (err ?? {}) as { code?: unknown; sqlState?: unknown; errno?: unknown; constraint?: unknown };
  const code = typeof e.code === 'string' ? e.code : typeof e.errno === 'number' ? String(e.errno) : 'ERROR';
  const sqlState =
    typeof e.sqlState === 'string' ? e.sqlState : /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const constraint = typeof e.constraint === 'string' ? ` (constraint ${e.constraint})` : '';
  const socket = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|ENOTFOUND|EAI_AGAIN)$/;
  const mysqlTransient =
    /^(PROTOCOL_CONNECTION_LOST|PROTOCOL_SEQUENCE_TIMEOUT|ER_LOCK_DEADLOCK|ER_LOCK_WAIT_TIMEOUT|ER_CON_COUNT_ERROR|ER_SERVER_SHUTDOWN|ER_QUERY_INTERRUPTED|ER_ACCESS_DENIED_ERROR|ER_DBACCESS_DENIED_ERROR)$/;
  const message = err instanceof Error ? err.message : '';
  if (socket.test(code) || mysqlTransient.test(code) || (/timeout/i.test(message) && !sqlState))
    return { retry: true, code, text: `the database could not be reached or asked to retry (${code})` };
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_CANTOPEN')
    return { retry: true, code, text: `the database is busy or cannot be opened (${code})` };
  if (sqlState) {
    const cls = sqlState.slice(0, 2);
    // 28: the login was refused (a password being rotated): the messages wait for it to be fixed.
    if (
      cls === '08' ||
      cls === '28' ||
      cls === '53' ||
      cls === '57' ||
      sqlState === '40001' ||
      sqlState === '40P01'
    )
      return { retry: true, code, text: `the database asked to retry (SQLSTATE ${sqlState})` };
    if (cls === '23')
      return {
        retry: false,
        code,
        text: `a constraint was violated (SQLSTATE ${sqlState}${code !== sqlState ? `, ${code}` : ''})${constraint}`,
      };
    return { retry: false, code, text: `the database refused the statement (SQLSTATE ${sqlState}, ${code})` };
  }
  if (code.startsWith('SQLITE_CONSTRAINT'))
    return { retry: false, code, text: `a constraint was violated (${code})` };
  if (code.startsWith('SQLITE_'))
    return { retry: false, code, text: `the database refused the statement (${code})` };
  return { retry: false, code, text: `the statement failed (${code})` };
}
