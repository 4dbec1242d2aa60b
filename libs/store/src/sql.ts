import type { Database as SqliteConnection, Statement } from 'better-sqlite3';
import type { Pool, PoolClient } from 'pg';
import type { StoreKind } from './entities';

/**
 * The thin SQL layer under the store: parameterised statements on the connection that
 * TypeORM opened (better-sqlite3's database handle, or TypeORM's `pg` pool). SQL text uses
 * `?` placeholders on both backends; the PostgreSQL side numbers them (`$1`, `$2` …).
 */
export type SqlValue = string | number | bigint | Buffer | Date | null;

export interface SqlExecutor {
  all<R>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  get<R>(sql: string, params?: readonly SqlValue[]): Promise<R | undefined>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /**
   * Inserts rows into `table` (one statement per row on SQLite, one `unnest` statement on
   * PostgreSQL); with `returning`, resolves with those columns of every inserted row.
   */
  insertRows<R = never>(insert: RowsInsert): Promise<R[]>;
}

export interface RowsInsert {
  table: string;
  columns: readonly string[];
  /** PostgreSQL array element types, one per column (`text`, `bigint`, `timestamptz`, `bytea` …). */
  pgTypes: readonly string[];
  rows: ReadonlyArray<readonly SqlValue[]>;
  returning?: string;
}

export interface SqlDatabase extends SqlExecutor {
  readonly kind: StoreKind;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it rejects. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** ` FOR UPDATE` on PostgreSQL (row locks); empty on SQLite (writers are serialised). */
  readonly forUpdate: string;
  /** A time stamp as the backend stores it: ms since the epoch on SQLite, a Date on PostgreSQL. */
  time(date: Date): number | Date;
  /** `column IN (…)` for a list of values. */
  inList(column: string, count: number): string;
  /** Runs `fn` after every operation already started has settled; nothing starts after it. */
  drain<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * better-sqlite3 is synchronous and the store holds one connection. Every operation runs
 * under an in-process lock, so a transaction's statements never interleave with another
 * operation's (a reader never sees another transaction's uncommitted rows). Writes start
 * with `BEGIN IMMEDIATE`, so a second process on the same file waits (busy_timeout)
 * instead of failing half-way. Every failure of the driver is rethrown as an `Error` of the
 * store's own realm (see `ownRealmError`).
 */
/** Transactions committed together at most (a group's writes stay bounded). */
const MAX_GROUP = 128;

interface PendingTransaction {
  fn: (tx: SqlExecutor) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class SqliteDatabase implements SqlDatabase {
  readonly kind = 'sqlite' as const;
  readonly forUpdate = '';
  private readonly statements = new Map<string, Statement>();
  private readonly waiting: Array<() => void> = [];
  private busy = false;
  private readonly pendingTransactions: PendingTransaction[] = [];
  private groupScheduled = false;
  private scheduledGroup: Promise<void> | undefined;
  private readonly executor: SqlExecutor;

  constructor(private readonly connection: SqliteConnection) {
    this.executor = {
      all: (sql, params) => Promise.resolve(this.allNow(sql, params)),
      get: (sql, params) => Promise.resolve(this.getNow(sql, params)),
      run: (sql, params) => Promise.resolve(this.runNow(sql, params)),
      insertRows: (insert) => Promise.resolve(this.insertNow(insert)),
    };
  }

  time(date: Date): number {
    return date.getTime();
  }

  inList(column: string, count: number): string {
    return `${column} IN (${new Array<string>(count).fill('?').join(', ')})`;
  }

  all<R>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    return this.exclusive(() => Promise.resolve(this.allNow<R>(sql, params)));
  }

  get<R>(sql: string, params?: readonly SqlValue[]): Promise<R | undefined> {
    return this.exclusive(() => Promise.resolve(this.getNow<R>(sql, params)));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.exclusive(() => Promise.resolve(this.runNow(sql, params)));
  }

  insertRows<R = never>(insert: RowsInsert): Promise<R[]> {
    return this.exclusive(() => Promise.resolve(this.insertNow<R>(insert)));
  }

  /**
   * Transactions asked for in the same turn of the event loop, or while the lock is held,
   * are committed together: one `BEGIN IMMEDIATE … COMMIT` around all of them, each inside
   * its own savepoint, so one that fails is rolled back alone while the others commit. Every
   * caller is answered only after the COMMIT (a failed COMMIT fails them all). Under load this
   * writes each touched page once per group instead of once per operation.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pendingTransactions.push({
        fn: fn as (tx: SqlExecutor) => Promise<unknown>,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (!this.groupScheduled) {
        this.groupScheduled = true;
        // Started on the next turn of the event loop, so every transaction asked for in this
        // turn (concurrent pipelines, deliveries, ingests) shares one COMMIT; reads go on
        // meanwhile, and drain() (close) waits for it.
        const scheduled: Promise<void> = new Promise<void>((resolve) =>
          setImmediate(() => {
            void this.exclusive(() => this.commitGroup()).finally(() => {
              if (this.scheduledGroup === scheduled) this.scheduledGroup = undefined;
              resolve();
            });
          }),
        );
        this.scheduledGroup = scheduled;
      }
    });
  }

  private async commitGroup(): Promise<void> {
    this.groupScheduled = false;
    const group = this.pendingTransactions.splice(0, MAX_GROUP);
    if (this.pendingTransactions.length && !this.groupScheduled) {
      this.groupScheduled = true;
      void this.exclusive(() => this.commitGroup());
    }
    if (group.length === 0) return;
    try {
      await this.runGroup(group);
    } catch (error) {
      // A savepoint statement itself failed: undo everything and fail the whole group.
      if (this.connection.inTransaction) this.connection.exec('ROLLBACK');
      for (const t of group) t.reject(error);
    }
  }

  private async runGroup(group: PendingTransaction[]): Promise<void> {
    try {
      this.runNow('BEGIN IMMEDIATE');
    } catch (error) {
      for (const t of group) t.reject(error);
      return;
    }
    const settled: Array<() => void> = [];
    for (let i = 0; i < group.length; i++) {
      const t = group[i] as PendingTransaction;
      const single = group.length === 1;
      try {
        if (!single) this.runNow('SAVEPOINT grouped');
        const result = await t.fn(this.executor);
        if (!single) this.runNow('RELEASE grouped');
        settled.push(() => t.resolve(result));
      } catch (error) {
        if (!this.connection.inTransaction) {
          // SQLite gave the whole transaction up (disk full, I/O error): nobody's writes stand.
          for (const other of group) other.reject(error);
          return;
        }
        if (single) {
          this.runNow('ROLLBACK');
          t.reject(error);
          return;
        }
        this.runNow('ROLLBACK TO grouped');
        this.runNow('RELEASE grouped');
        settled.push(() => t.reject(error));
      }
    }
    try {
      this.runNow('COMMIT');
    } catch (error) {
      if (this.connection.inTransaction) this.runNow('ROLLBACK');
      for (const t of group) t.reject(error);
      return;
    }
    for (const s of settled) s();
  }

  async drain<T>(fn: () => Promise<T>): Promise<T> {
    while (this.scheduledGroup) await this.scheduledGroup;
    return this.exclusive(fn);
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.busy = false;
    }
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.connection.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private allNow<R>(sql: string, params: readonly SqlValue[] = []): R[] {
    try {
      return this.statement(sql).all(...params.map(sqliteValue)) as R[];
    } catch (error) {
      throw ownRealmError(error);
    }
  }

  private getNow<R>(sql: string, params: readonly SqlValue[] = []): R | undefined {
    try {
      return this.statement(sql).get(...params.map(sqliteValue)) as R | undefined;
    } catch (error) {
      throw ownRealmError(error);
    }
  }

  private runNow(sql: string, params: readonly SqlValue[] = []): number {
    try {
      return this.statement(sql).run(...params.map(sqliteValue)).changes;
    } catch (error) {
      throw ownRealmError(error);
    }
  }

  private insertNow<R>(insert: RowsInsert): R[] {
    const sql =
      `INSERT INTO ${insert.table} (${insert.columns.join(', ')}) VALUES (${insert.columns.map(() => '?').join(', ')})` +
      (insert.returning ? ` RETURNING ${insert.returning}` : '');
    try {
      const statement = this.statement(sql);
      if (insert.returning) {
        const out: R[] = [];
        for (const row of insert.rows) out.push(statement.get(...row.map(sqliteValue)) as R);
        return out;
      }
      for (const row of insert.rows) statement.run(...row.map(sqliteValue));
      return [];
    } catch (error) {
      throw ownRealmError(error);
    }
  }
}

/**
 * better-sqlite3's native addon is loaded once per process, and it throws its `SqliteError`s
 * with the constructor of the first copy of the library that opened a database. Where a
 * process holds several realms (VM contexts: jest runs each test file in its own), an error
 * built in another realm is neither `instanceof Error` here nor an Error by
 * `Object.prototype.toString`, so callers and tools stop seeing it as an error. Such a value
 * becomes an `Error` of this realm with the same name, message, `code` and stack (the original
 * as `cause`); an error of this realm passes through unchanged.
 */
function ownRealmError(error: unknown): unknown {
  if (error instanceof Error || typeof error !== 'object' || error === null) return error;
  const { name, message, code, stack } = error as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    stack?: unknown;
  };
  if (typeof message !== 'string') return error;
  const copy: Error & { code?: unknown } = new Error(message, { cause: error });
  if (typeof name === 'string') copy.name = name;
  if (code !== undefined) copy.code = code;
  if (typeof stack === 'string') copy.stack = stack;
  return copy;
}

function sqliteValue(value: SqlValue): string | number | bigint | Buffer | null {
  return value instanceof Date ? value.getTime() : value;
}

/**
 * PostgreSQL through TypeORM's `pg` pool. Statements with a fixed text are prepared once per
 * connection (named statements). A connection that fails mid-transaction is discarded, so
 * the pool reconnects when the server comes back.
 */
export class PostgresDatabase implements SqlDatabase {
  readonly kind = 'postgres' as const;
  readonly forUpdate = ' FOR UPDATE';
  private readonly texts = new Map<string, { name: string; text: string }>();
  private inFlight = 0;
  private idle: Array<() => void> = [];

  constructor(private readonly pool: Pool) {}

  time(date: Date): Date {
    return date;
  }

  inList(column: string, _count: number): string {
    return `${column} = ANY(?::text[])`;
  }

  all<R>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    return this.track(() => query<R>(this.pool, this.prepared(sql), params));
  }

  async get<R>(sql: string, params?: readonly SqlValue[]): Promise<R | undefined> {
    return (await this.all<R>(sql, params))[0];
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.track(
      async () => (await this.pool.query({ ...this.prepared(sql), values: values(params) })).rowCount ?? 0,
    );
  }

  insertRows<R = never>(insert: RowsInsert): Promise<R[]> {
    return this.track(() => pgInsert<R>(this.pool, insert, (sql) => this.prepared(sql)));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.track(async () => {
      const client = await this.pool.connect();
      // A checked-out client reports a dead socket as an 'error' event (the pending query
      // rejects too); without a listener that event would crash the process.
      let broken: Error | undefined;
      const onError = (error: Error) => {
        broken ??= error;
      };
      client.on('error', onError);
      const tx: SqlExecutor = {
        all: <R>(sql: string, params?: readonly SqlValue[]) => query<R>(client, this.prepared(sql), params),
        get: async <R>(sql: string, params?: readonly SqlValue[]) =>
          (await query<R>(client, this.prepared(sql), params))[0],
        run: async (sql, params) =>
          (await client.query({ ...this.prepared(sql), values: values(params) })).rowCount ?? 0,
        insertRows: (insert) => pgInsert(client, insert, (sql) => this.prepared(sql)),
      };
      try {
        await client.query('BEGIN');
        const result = await fn(tx);
        await client.query('COMMIT');
        client.removeListener('error', onError);
        client.release(broken);
        return result;
      } catch (error) {
        if (!broken) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackError) {
            broken = rollbackError as Error;
          }
        }
        client.removeListener('error', onError);
        client.release(broken);
        throw error;
      }
    });
  }

  async drain<T>(fn: () => Promise<T>): Promise<T> {
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    return fn();
  }

  private async track<T>(fn: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    try {
      return await fn();
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) {
        const waiting = this.idle;
        this.idle = [];
        for (const resolve of waiting) resolve();
      }
    }
  }

  /** `?` → `$n`, and a statement name for the connection's prepared-statement cache. */
  private prepared(sql: string): { name: string; text: string } {
    let entry = this.texts.get(sql);
    if (!entry) {
      let n = 0;
      entry = { name: `sinew_${this.texts.size + 1}`, text: sql.replace(/\?/g, () => `$${++n}`) };
      this.texts.set(sql, entry);
    }
    return entry;
  }
}

type Queryable = Pool | PoolClient;

async function query<R>(
  on: Queryable,
  statement: { name: string; text: string },
  params?: readonly SqlValue[],
): Promise<R[]> {
  const result = await on.query({ ...statement, values: values(params) });
  return result.rows as R[];
}

function values(params?: readonly SqlValue[]): unknown[] {
  return params ? [...params] : [];
}

async function pgInsert<R>(
  on: Queryable,
  insert: RowsInsert,
  prepared: (sql: string) => { name: string; text: string },
): Promise<R[]> {
  if (insert.rows.length === 0) return [];
  const columns = insert.columns.map((_, i) => insert.rows.map((row) => row[i] ?? null));
  const sql =
    `INSERT INTO ${insert.table} (${insert.columns.join(', ')}) ` +
    `SELECT * FROM unnest(${insert.pgTypes.map((type) => `?::${type}[]`).join(', ')})` +
    (insert.returning ? ` RETURNING ${insert.returning}` : '');
  const result = await on.query({ ...prepared(sql), values: columns });
  return result.rows as R[];
}
