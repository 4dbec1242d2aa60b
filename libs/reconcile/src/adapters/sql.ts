/**
 * The `sql` adapter: a SELECT against PostgreSQL (`pg`), MySQL/MariaDB (`mysql2`) or SQLite
 * (`better-sqlite3`), chosen by the URL's scheme. Rows are streamed (a server-side cursor, a
 * row stream, a statement iterator) so that a million rows never sit in memory; counts are
 * asked of the database.
 */
import { isAbsolute, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type mysql from 'mysql2';
import type { Client, types as PgTypes } from 'pg';
import { z } from 'zod';
import type { RawValue, ReadContext, SideReader, SideRecord } from '../types';
import { ReconcileReadError, type AdapterDefinition, type AdapterDeps } from './errors';

export type SqlDialect = 'postgres' | 'mysql' | 'sqlite';

export const sqlSystemSchema = z.strictObject({
  type: z.literal('sql'),
  url: z
    .string()
    .min(1)
    .refine((url) => dialectOf(url) !== undefined, {
      message: 'a postgres://, postgresql://, mysql://, mariadb:// or sqlite: URL',
    }),
});
export type SqlSystemSettings = z.infer<typeof sqlSystemSchema>;

export const sqlSideSchema = z.strictObject({
  system: z.string().optional(),
  query: z.string().min(1),
});
export type SqlSideSettings = z.infer<typeof sqlSideSchema>;

export function dialectOf(url: string): SqlDialect | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  if (scheme === 'mysql' || scheme === 'mariadb') return 'mysql';
  if (scheme === 'sqlite') return 'sqlite';
  return undefined;
}

/** The named parameters a query may use. */
export interface NamedValues {
  from: string | null;
  to: string | null;
}

/**
 * Replaces `:from` and `:to` with the dialect's placeholders (`$1`… for PostgreSQL, `?` for
 * the others), skipping string literals, quoted identifiers, comments, dollar quotes and `::`
 * casts; returns the values in placeholder order.
 */
export function bindNamed(
  sql: string,
  dialect: SqlDialect,
  values: NamedValues,
): { text: string; values: unknown[] } {
  const out: string[] = [];
  const bound: unknown[] = [];
  const pgIndex = new Map<string, number>();
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    const rest2 = sql.slice(i, i + 2);
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < n) {
        if (sql[j] === '\\' && dialect === 'mysql' && c !== '`') j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j += 1;
      }
      out.push(sql.slice(i, j + 1));
      i = j + 1;
    } else if (rest2 === '--' || (c === '#' && dialect === 'mysql')) {
      const j = sql.indexOf('\n', i);
      const end = j < 0 ? n : j;
      out.push(sql.slice(i, end));
      i = end;
    } else if (rest2 === '/*') {
      const j = sql.indexOf('*/', i + 2);
      const end = j < 0 ? n : j + 2;
      out.push(sql.slice(i, end));
      i = end;
    } else if (c === '$' && dialect === 'postgres' && /^\$[A-Za-z_]*\$/.test(sql.slice(i))) {
      const tag = (/^\$[A-Za-z_]*\$/.exec(sql.slice(i)) as RegExpExecArray)[0];
      const j = sql.indexOf(tag, i + tag.length);
      const end = j < 0 ? n : j + tag.length;
      out.push(sql.slice(i, end));
      i = end;
    } else if (rest2 === '::') {
      out.push('::');
      i += 2;
    } else if (c === ':' && /^:(from|to)\b/.test(sql.slice(i))) {
      const name = sql.startsWith(':from', i) ? 'from' : 'to';
      const value = values[name];
      if (dialect === 'postgres') {
        let index = pgIndex.get(name);
        if (index === undefined) {
          bound.push(value);
          index = bound.length;
          pgIndex.set(name, index);
        }
        out.push(`$${index}`);
      } else {
        bound.push(value);
        out.push('?');
      }
      i += name.length + 1;
    } else {
      out.push(c);
      i += 1;
    }
  }
  return { text: out.join(''), values: bound };
}

/** The query without trailing semicolons and whitespace, so that it can be wrapped. */
export function stripQuery(sql: string): string {
  return sql.replace(/[\s;]+$/, '');
}

/** A value as the comparison takes it. */
export function toRawValue(value: unknown): RawValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return JSON.stringify(value);
}

type Row = Record<string, unknown>;

/** One connection to the side's database, opened for one operation. */
export interface SqlConnection {
  readonly dialect: SqlDialect;
  /** A small result, all at once. */
  all(sql: string, values: unknown[]): Promise<Row[]>;
  /** A large result, row by row. */
  stream(sql: string, values: unknown[]): AsyncIterable<Row>;
  close(): Promise<void>;
}

const PG_DATE = 1082;
const PG_TIMESTAMP = 1114;
/** Dates and local timestamps stay as the database writes them (no local-time Date objects). */
function pgTypeParsers(pgTypes: typeof PgTypes) {
  return {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === PG_DATE) return (text: string) => text;
      if (oid === PG_TIMESTAMP) return (text: string) => text.replace(' ', 'T');
      return pgTypes.getTypeParser(oid, format ?? 'text');
    },
  };
}

const PG_FETCH_ROWS = 2000;
const SQLITE_YIELD_EVERY = 5000;

class PgConnection implements SqlConnection {
  readonly dialect = 'postgres' as const;
  constructor(private readonly client: Client) {}

  static async open(url: string): Promise<PgConnection> {
    // The drivers load when a system of theirs is read, not when the module is (sinew lint).
    const pg = await import('pg');
    const client = new pg.Client({ connectionString: url, types: pgTypeParsers(pg.types) });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    return new PgConnection(client);
  }

  async all(sql: string, values: unknown[]): Promise<Row[]> {
    return (await this.client.query(sql, values)).rows as Row[];
  }

  async *stream(sql: string, values: unknown[]): AsyncIterable<Row> {
    await this.client.query('BEGIN READ ONLY');
    let open = true;
    try {
      await this.client.query(`DECLARE sinew_reconcile NO SCROLL CURSOR FOR ${sql}`, values);
      for (;;) {
        const { rows } = await this.client.query(`FETCH ${PG_FETCH_ROWS} FROM sinew_reconcile`);
        for (const row of rows as Row[]) yield row;
        if (rows.length < PG_FETCH_ROWS) break;
      }
      open = false;
      await this.client.query('COMMIT');
    } finally {
      if (open) await this.client.query('ROLLBACK').catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

class MysqlConnection implements SqlConnection {
  readonly dialect = 'mysql' as const;
  constructor(private readonly connection: mysql.Connection) {}

  static async open(url: string): Promise<MysqlConnection> {
    const parsed = new URL(url);
    parsed.protocol = 'mysql:';
    const { createConnection } = await import('mysql2');
    const connection = createConnection({
      uri: parsed.toString(),
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      timezone: 'Z',
      typeCast(field, next) {
        if (field.type === 'DATETIME') return field.string()?.replace(' ', 'T') ?? null;
        if (field.type === 'TIMESTAMP') {
          const text = field.string();
          return text ? `${text.replace(' ', 'T')}Z` : null;
        }
        return next();
      },
    });
    connection.on('error', () => undefined);
    const ready = new MysqlConnection(connection);
    try {
      await ready.all("SET time_zone = '+00:00'", []);
    } catch (err) {
      await ready.close();
      throw err;
    }
    return ready;
  }

  all(sql: string, values: unknown[]): Promise<Row[]> {
    return new Promise((resolveRows, reject) => {
      this.connection.query({ sql, values }, (err, rows) => (err ? reject(err) : resolveRows(rows as Row[])));
    });
  }

  async *stream(sql: string, values: unknown[]): AsyncIterable<Row> {
    const rows = this.connection.query({ sql, values }).stream({ highWaterMark: 1000 });
    try {
      for await (const row of rows as AsyncIterable<Row>) yield row;
    } finally {
      rows.destroy();
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((done) => this.connection.end(() => done()));
    this.connection.destroy();
  }
}

class SqliteConnection implements SqlConnection {
  readonly dialect = 'sqlite' as const;
  constructor(private readonly db: Database.Database) {}

  static async open(path: string): Promise<SqliteConnection> {
    const { default: BetterSqlite } = await import('better-sqlite3');
    const db = new BetterSqlite(path, { readonly: true, fileMustExist: true });
    db.defaultSafeIntegers(false);
    return new SqliteConnection(db);
  }

  async all(sql: string, values: unknown[]): Promise<Row[]> {
    return this.db.prepare(sql).all(...values) as Row[];
  }

  async *stream(sql: string, values: unknown[]): AsyncIterable<Row> {
    let n = 0;
    for (const row of this.db.prepare(sql).iterate(...values) as IterableIterator<Row>) {
      yield row;
      // better-sqlite3 is synchronous: let timers and sockets run now and then.
      if (++n % SQLITE_YIELD_EVERY === 0) await new Promise((done) => setImmediate(done));
    }
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** A URL fit for error messages: no password. */
export function describeUrl(url: string): string {
  if (dialectOf(url) === 'sqlite') return url;
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1@');
  }
}

/** SQLSTATE classes whose driver messages name the query's shape, never a row's values. */
const SHAPE_STATES = /^(08|28|3D|3F|42|53|57)/;
const MYSQL_SHAPE_CODES = new Set([
  'ER_PARSE_ERROR',
  'ER_BAD_FIELD_ERROR',
  'ER_NO_SUCH_TABLE',
  'ER_BAD_DB_ERROR',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_NON_UNIQ_ERROR',
  'ER_WRONG_FIELD_WITH_GROUP',
]);

export class SqlSideReader implements SideReader {
  readonly dialect: SqlDialect;
  readonly name: string;

  constructor(
    readonly system: SqlSystemSettings,
    readonly side: SqlSideSettings,
    deps: AdapterDeps,
  ) {
    this.dialect = dialectOf(system.url) as SqlDialect;
    this.name = deps.systemName ?? side.system ?? 'sql';
  }

  /** Opens a connection of its own (operations may run side by side). */
  async connect(ctx: Pick<ReadContext, 'baseDir'>): Promise<SqlConnection> {
    try {
      if (this.dialect === 'postgres') return await PgConnection.open(this.system.url);
      if (this.dialect === 'mysql') return await MysqlConnection.open(this.system.url);
      return await SqliteConnection.open(this.sqlitePath(ctx.baseDir));
    } catch (err) {
      throw this.error(err, 'connecting');
    }
  }

  sqlitePath(baseDir: string): string {
    let path = this.system.url.replace(/^sqlite:/i, '');
    if (path.startsWith('//')) path = path.slice(2);
    return isAbsolute(path) ? path : resolve(baseDir, path);
  }

  /** The side's query with the period bound, ready to be wrapped as `(…) q`. */
  bound(ctx: Pick<ReadContext, 'period'>): { text: string; values: unknown[] } {
    const format = (d: Date | undefined): string | null =>
      d === undefined
        ? null
        : this.dialect === 'mysql'
          ? d.toISOString().replace('T', ' ').replace('Z', '')
          : d.toISOString();
    return bindNamed(stripQuery(this.side.query), this.dialect, {
      from: format(ctx.period.from),
      to: format(ctx.period.to),
    });
  }

  async *read(ctx: ReadContext): AsyncIterable<SideRecord> {
    const { text, values } = this.bound(ctx);
    yield* this.records(ctx, text, values);
  }

  /** Runs `sql` and turns its rows into records; used by the checksum diff for ranges too. */
  async *records(
    ctx: ReadContext,
    sql: string,
    values: unknown[],
    extra?: (row: Row) => void,
  ): AsyncIterable<SideRecord> {
    const connection = await this.connect(ctx);
    let checked = false;
    try {
      for await (const row of connection.stream(sql, values)) {
        if (!checked) {
          this.checkColumns(row, ctx);
          checked = true;
        }
        extra?.(row);
        ctx.signal.throwIfAborted();
        yield this.toRecord(row, ctx);
      }
    } catch (err) {
      throw this.error(err, `the query of entity ${ctx.entity} (${ctx.side})`);
    } finally {
      await connection.close();
    }
  }

  async count(ctx: ReadContext): Promise<Map<string, number> | undefined> {
    const { text, values } = this.bound(ctx);
    const sql = ctx.withStatus
      ? `SELECT q.status AS status, count(*) AS n FROM (${text}) q GROUP BY q.status`
      : `SELECT count(*) AS n FROM (${text}) q`;
    const connection = await this.connect(ctx);
    try {
      const rows = await connection.all(sql, values);
      const counts = new Map<string, number>();
      for (const row of rows) {
        const status = ctx.withStatus ? toRawValue(row.status) : '';
        const key = status === null ? '' : String(status);
        counts.set(key, (counts.get(key) ?? 0) + Number(row.n));
      }
      return counts;
    } catch (err) {
      throw this.error(err, `counting entity ${ctx.entity} (${ctx.side})`);
    } finally {
      await connection.close();
    }
  }

  private checkColumns(row: Row, ctx: ReadContext): void {
    const wanted = ['key', ...ctx.fields, ...(ctx.withStatus ? ['status'] : [])];
    const missing = wanted.filter((column) => !(column in row));
    if (missing.length > 0) {
      throw new ReconcileReadError(
        this.name,
        `the query of entity ${ctx.entity} (${ctx.side}) returns no column ${missing.join(', ')} ` +
          `(it must return key, the field names${ctx.withStatus ? ', status' : ''}; ${this.where()})`,
        { target: this.side.query, code: 'MISSING_COLUMN' },
      );
    }
  }

  toRecord(row: Row, ctx: ReadContext): SideRecord {
    const key = toRawValue(row.key);
    const record: SideRecord = {
      key: key === null ? '' : String(key),
      fields: Object.fromEntries(ctx.fields.map((name) => [name, toRawValue(row[name])])),
    };
    if (ctx.withStatus) {
      const status = toRawValue(row.status);
      record.status = status === null ? null : String(status);
    }
    if ('updated_at' in row) {
      const updated = toRawValue(row.updated_at);
      record.updatedAt = updated === null ? null : String(updated);
    }
    return record;
  }

  private where(): string {
    return `${describeUrl(this.system.url)}, query: ${summarise(this.side.query)}`;
  }

  /** A driver error as a ReconcileReadError: code always, the driver's message when it names no values. */
  error(err: unknown, doing: string): ReconcileReadError {
    if (err instanceof ReconcileReadError) return err;
    const e = err as { code?: string | number; sqlState?: string; message?: string; errno?: number };
    const state = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : e.sqlState;
    const code = e.code ?? state ?? 'error';
    const shape =
      (state !== undefined && SHAPE_STATES.test(state)) ||
      (typeof e.code === 'string' &&
        (MYSQL_SHAPE_CODES.has(e.code) || e.code === 'SQLITE_ERROR' || e.code === 'SQLITE_CANTOPEN')) ||
      (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) ||
      (typeof e.message === 'string' && /unable to open database|directory does not exist/.test(e.message));
    const detail = shape && e.message ? `: ${e.message}` : '';
    return new ReconcileReadError(
      this.name,
      `${doing} failed with SQL error ${code}${detail} (${this.where()})`,
      {
        target: this.side.query,
        code,
        cause: err,
      },
    );
  }
}

function summarise(query: string): string {
  const flat = query.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}…` : flat;
}

export const sqlAdapter: AdapterDefinition<SqlSystemSettings, SqlSideSettings> = {
  type: 'sql',
  system: sqlSystemSchema,
  side: sqlSideSchema,
  create: (system, side, deps) => new SqlSideReader(system, side, deps),
};
