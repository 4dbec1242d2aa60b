import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Database as SqliteConnection } from 'better-sqlite3';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { storeEntities } from './entities';
import { invalid } from './errors';
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from './migrations';
import { PostgresDatabase, SqliteDatabase } from './sql';
import { TypeOrmStore } from './typeorm-store';
import { WalCheckpointer } from './wal-checkpointer';

/** Where the store logs (pino-compatible). It logs connection trouble only, never content. */
export interface StoreLogger {
  warn(obj: object, msg?: string): void;
}

export interface OpenStoreOptions {
  /** `postgres://…` (or `postgresql://…`) selects PostgreSQL; unset selects SQLite. */
  databaseUrl?: string;
  /**
   * SQLite: the directory of `sinew.db`, created owner-only (0700) if missing. Default `./data`.
   * The folder and the ledger's files in it are made owner-only (0700, 0600) when they are
   * not, with a warning through `logger`: they hold PHI.
   */
  dataDir?: string;
  /** PostgreSQL: the schema to use (created if missing); default: the server's search_path. */
  schema?: string;
  logger?: StoreLogger;
  /**
   * SQLite durability. `normal` (default): in WAL mode a commit survives a crash of the
   * process (kill -9) but the last commits before a power loss or OS crash may be lost.
   * `full`: every commit is fsynced before it returns (survives power loss; slower).
   */
  sqliteSynchronous?: 'normal' | 'full';
  /** SQLite: how long a statement waits for another process's lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * SQLite: the connection's page cache in MiB (default 8). The operating system caches the
   * file too; a larger cache saves reads of a large ledger's index pages for more memory.
   */
  sqliteCacheMb?: number;
  /** PostgreSQL: connections in the pool (default 10). */
  poolSize?: number;
  /** PostgreSQL: `application_name` of the connections (default `sinew`). */
  applicationName?: string;
}

/** The SQLite file's name inside `dataDir`. */
export const SQLITE_FILE_NAME = 'sinew.db';

const WAL_AUTOCHECKPOINT_PAGES = 16000;
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** First key of the advisory lock that serialises migrations between processes. */
const MIGRATION_LOCK_KEY = 0x5157;

/**
 * Opens the ledger: connects, runs the committed migrations that have not run yet, and
 * returns the store. Rejects when the database cannot be reached or migrated.
 */
export async function openStore(options: OpenStoreOptions = {}): Promise<TypeOrmStore> {
  const url = options.databaseUrl?.trim();
  if (url) {
    if (!/^postgres(ql)?:\/\//i.test(url)) {
      throw invalid('databaseUrl must start with postgres:// or postgresql:// (leave it unset for SQLite)');
    }
    return openPostgres(url, options);
  }
  return openSqlite(options);
}

async function openSqlite(options: OpenStoreOptions): Promise<TypeOrmStore> {
  const synchronous = options.sqliteSynchronous ?? 'normal';
  if (synchronous !== 'normal' && synchronous !== 'full') {
    throw invalid(`sqliteSynchronous must be normal or full, not ${String(synchronous)}`);
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
    throw invalid('busyTimeoutMs must be a non-negative integer');
  const cacheMb = options.sqliteCacheMb ?? 8;
  if (!Number.isInteger(cacheMb) || cacheMb < 1) throw invalid('sqliteCacheMb must be a positive integer');
  const dir = resolve(options.dataDir ?? 'data');
  makePrivateDir(dir, options.logger);
  makePrivateFiles(join(dir, SQLITE_FILE_NAME), options.logger);
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: join(dir, SQLITE_FILE_NAME),
    timeout: busyTimeoutMs,
    entities: storeEntities('sqlite'),
    migrations: SQLITE_MIGRATIONS,
    migrationsTableName: 'ledger_migrations',
    migrationsRun: false,
    synchronize: false,
    logging: false,
    prepareDatabase: (db: SqliteConnection) => {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      // Checkpoints run on a thread of their own (WalCheckpointer); SQLite's automatic one
      // (~64 MB of log) is only the fallback should that thread stop.
      db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      db.pragma(`cache_size = -${cacheMb * 1024}`); // negative: KiB
      db.pragma('temp_store = MEMORY');
    },
  });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'all' });
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  const driver = dataSource.driver as unknown as { databaseConnection: SqliteConnection };
  const checkpointer = new WalCheckpointer(join(dir, SQLITE_FILE_NAME));
  return new TypeOrmStore(dataSource, new SqliteDatabase(driver.databaseConnection), () =>
    checkpointer.stop(),
  );
}

/** The mode as `ls` and chmod write it: `0755`. */
function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/**
 * Gives an existing folder or file of the ledger the owner-only `mode` when group or others
 * have any permission on it, and logs it (path and modes; never content). A path owned by
 * another user cannot be changed: that is logged too, and the ledger opens all the same.
 */
function tighten(path: string, mode: number, kind: string, logger: StoreLogger | undefined): void {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const was = stat.mode & 0o777;
  if ((was & 0o077) === 0) return;
  try {
    chmodSync(path, mode);
  } catch (error) {
    logger?.warn(
      { path, mode: octal(was), code: (error as NodeJS.ErrnoException).code, owner: stat.uid },
      `${kind} is readable by other users and its mode cannot be changed by this user: ` +
        `make it ${octal(mode)} (chmod ${octal(mode)} ${path})`,
    );
    return;
  }
  logger?.warn(
    { path, mode: octal(was), now: octal(mode) },
    `${kind} was open to other users (mode ${octal(was)}): set to ${octal(mode)}`,
  );
}

/**
 * Creates `dir` and any missing parent with mode 0700; an existing data folder that group or
 * others may enter or read is set to 0700, with a warning.
 */
function makePrivateDir(dir: string, logger: StoreLogger | undefined): void {
  const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) {
    tighten(dir, 0o700, 'the ledger folder', logger);
    return;
  }
  // mkdir's mode passes through the umask; chmod sets it exactly on each folder made here.
  for (let d = dir; ; d = dirname(d)) {
    chmodSync(d, 0o700);
    if (d === first || d === dirname(d)) break;
  }
}

/**
 * Creates the SQLite file if missing and gives it, and its -wal and -shm files when present,
 * mode 0600 whatever the umask (an older ledger is tightened, with a warning). SQLite creates
 * the -wal and -shm files with the database file's mode, so they stay owner-only too.
 */
function makePrivateFiles(file: string, logger: StoreLogger | undefined): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) tighten(f, 0o600, 'a ledger file', logger);
}

async function openPostgres(url: string, options: OpenStoreOptions): Promise<TypeOrmStore> {
  const schema = options.schema;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw invalid('schema must be letters, digits and underscores, starting with a letter or underscore');
  }
  const applicationName = options.applicationName ?? 'sinew';
  if (schema !== undefined) {
    await createSchema(url, schema, applicationName);
  }
  const logger = options.logger;
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    schema,
    applicationName,
    poolSize: options.poolSize ?? 10,
    connectTimeoutMS: 10_000,
    entities: storeEntities('postgres'),
    migrations: POSTGRES_MIGRATIONS,
    migrationsTableName: 'ledger_migrations',
    migrationsRun: false,
    synchronize: false,
    logging: false,
    extra: schema === undefined ? {} : { options: `-c search_path="${schema}"` },
    poolErrorHandler: (error: Error & { code?: string }) => {
      logger?.warn(
        { err: { code: error.code, message: error.message } },
        'ledger connection lost; the pool reconnects',
      );
    },
  });
  await dataSource.initialize();
  try {
    await migrateLocked(dataSource, schema ?? 'public');
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  const driver = dataSource.driver as unknown as { master: Pool };
  return new TypeOrmStore(dataSource, new PostgresDatabase(driver.master));
}

/** CREATE SCHEMA IF NOT EXISTS, tolerating another process creating it at the same moment. */
async function createSchema(url: string, schema: string, applicationName: string): Promise<void> {
  // Loaded here: an embedded (SQLite) engine never needs the PostgreSQL client.
  const { Client } = await import('pg');
  const client = new Client({
    connectionString: url,
    application_name: applicationName,
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } catch (error) {
    // 23505: the catalog's unique index caught a concurrent CREATE SCHEMA; 42P06: it exists.
    const code = (error as { code?: string }).code;
    if (code !== '23505' && code !== '42P06') throw error;
  } finally {
    await client.end();
  }
}

/** Runs pending migrations while holding an advisory lock, so processes starting together take turns. */
async function migrateLocked(dataSource: DataSource, schema: string): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1, hashtext($2))', [MIGRATION_LOCK_KEY, schema]);
    try {
      await dataSource.runMigrations({ transaction: 'all' });
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1, hashtext($2))', [MIGRATION_LOCK_KEY, schema]);
    }
  } finally {
    await runner.release();
  }
}
