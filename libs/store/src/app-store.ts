import { conflict } from './errors';
import { readTime, type TimeValue } from './rows';
import type { SqlDatabase, SqlValue } from './sql';

/**
 * The app registry: apps that use the clinic's data through the FHIR API, in the ledger's
 * database (`store.apps`). Plain records in, plain records out; the rules (scopes, states,
 * credentials, misuse thresholds) live in `@sinew/auth`'s `AppsService`. Secrets never reach
 * this layer: it holds the sha256 of a client secret.
 */
export interface AppStore {
  /** Registers an app; rejects with `store.conflict` when the id is taken. */
  insertApp(app: NewAppRecord): Promise<AppRecord>;
  getApp(id: string): Promise<AppRecord | undefined>;
  /** Every app, newest first. */
  listApps(): Promise<AppRecord[]>;
  /**
   * Reads the app under a row lock, lets `decide` compute the changes (it may throw to
   * refuse) and writes them, in one transaction: concurrent changes (an admin's resume and an
   * automatic suspension) never overwrite each other unseen. Resolves with the app as written,
   * or undefined when it does not exist.
   */
  updateApp(id: string, decide: (current: AppRecord) => AppChanges, at: Date): Promise<AppRecord | undefined>;
  /** Adds calls to the apps' day counters and moves their last call time (one transaction). */
  recordCalls(
    calls: ReadonlyArray<{ appId: string; day: string; calls: number; lastCallAt: Date }>,
  ): Promise<void>;
  /** Calls per UTC day (`YYYY-MM-DD`) from `sinceDay` on, oldest first. */
  callsPerDay(appId: string, sinceDay: string): Promise<Array<{ day: string; calls: number }>>;
  addMisuse(misuse: AppMisuseRecord): Promise<void>;
  /** Misuse reported for the app at or after `since`. */
  countMisuse(appId: string, since: Date): Promise<number>;
  /** The app's latest misuse, newest first. */
  listMisuse(appId: string, limit: number): Promise<AppMisuseRecord[]>;
}

export type AppState = 'pending' | 'active' | 'paused' | 'suspended' | 'revoked';
export type AppEnvironment = 'sandbox' | 'production';

export interface NewAppRecord {
  /** The app's id, which is also its OAuth2 client id. */
  id: string;
  name: string;
  contact?: string;
  environment: AppEnvironment;
  /** SMART scopes, v2 text (`system/Patient.rs`). */
  requestedScopes: string[];
  approvedScopes: string[];
  events: string[];
  grantReason?: string;
  state: AppState;
  stateReason?: string;
  writesEnabled: boolean;
  /** Path prefixes under `/fhir/R4`; undefined: no limit beyond the scopes. */
  endpoints?: string[];
  /** Requests per minute; undefined: the engine's default. */
  rateLimit?: number;
  /** sha256 of the client secret (lowercase hex). */
  secretHash?: string;
  /** The app's public keys for `private_key_jwt`: a JWKS (JSON text). */
  jwks?: string;
  createdAt: Date;
  createdBy?: string;
  approvedAt?: Date;
  approvedBy?: string;
}

export interface AppRecord extends NewAppRecord {
  /** Until then the app's rate limit is lowered (misuse past the first threshold). */
  throttledUntil?: Date;
  /** Misuse is counted from then on (a reinstatement starts afresh). */
  misuseSince?: Date;
  updatedAt: Date;
  lastCallAt?: Date;
}

/** Fields to change; null clears an optional one. */
export interface AppChanges {
  name?: string;
  contact?: string | null;
  environment?: AppEnvironment;
  requestedScopes?: string[];
  approvedScopes?: string[];
  events?: string[];
  grantReason?: string | null;
  state?: AppState;
  stateReason?: string | null;
  writesEnabled?: boolean;
  endpoints?: string[] | null;
  rateLimit?: number | null;
  throttledUntil?: Date | null;
  misuseSince?: Date | null;
  secretHash?: string | null;
  jwks?: string | null;
  approvedAt?: Date | null;
  approvedBy?: string | null;
}

export interface AppMisuseRecord {
  id: string;
  appId: string;
  at: Date;
  kind: string;
  /** What happened, without PHI (a path template, a status, a count). */
  detail: string;
}

interface AppSqlRow {
  id: string;
  name: string;
  contact: string | null;
  environment: string;
  requested_scopes: string;
  approved_scopes: string;
  events: string;
  grant_reason: string | null;
  state: string;
  state_reason: string | null;
  writes_enabled: number;
  endpoints: string | null;
  rate_limit: number | null;
  throttled_until: TimeValue | null;
  misuse_since: TimeValue | null;
  secret_hash: string | null;
  jwks: string | null;
  created_at: TimeValue;
  created_by: string | null;
  approved_at: TimeValue | null;
  approved_by: string | null;
  updated_at: TimeValue;
  last_call_at: TimeValue | null;
}

const APP_COLUMNS =
  'id, name, contact, environment, requested_scopes, approved_scopes, events, grant_reason, state, ' +
  'state_reason, writes_enabled, endpoints, rate_limit, throttled_until, misuse_since, secret_hash, jwks, ' +
  'created_at, created_by, approved_at, approved_by, updated_at, last_call_at';

/** Column of each changeable field, and how its value is stored. */
const CHANGE_COLUMNS: Record<keyof AppChanges, string> = {
  name: 'name',
  contact: 'contact',
  environment: 'environment',
  requestedScopes: 'requested_scopes',
  approvedScopes: 'approved_scopes',
  events: 'events',
  grantReason: 'grant_reason',
  state: 'state',
  stateReason: 'state_reason',
  writesEnabled: 'writes_enabled',
  endpoints: 'endpoints',
  rateLimit: 'rate_limit',
  throttledUntil: 'throttled_until',
  misuseSince: 'misuse_since',
  secretHash: 'secret_hash',
  jwks: 'jwks',
  approvedAt: 'approved_at',
  approvedBy: 'approved_by',
};

const words = (list: readonly string[]): string => list.join(' ');
const unwords = (text: string): string[] => text.split(' ').filter((s) => s !== '');

export class SqlAppStore implements AppStore {
  constructor(
    private readonly db: SqlDatabase,
    private readonly open: () => void,
  ) {}

  private value(field: keyof AppChanges, v: unknown): SqlValue {
    if (v === null || v === undefined) return null;
    if (v instanceof Date) return this.db.time(v);
    if (field === 'writesEnabled') return v ? 1 : 0;
    if (field === 'endpoints') return JSON.stringify(v);
    if (field === 'requestedScopes' || field === 'approvedScopes' || field === 'events')
      return words(v as string[]);
    return v as SqlValue;
  }

  async insertApp(app: NewAppRecord): Promise<AppRecord> {
    this.open();
    const db = this.db;
    const row = await db.transaction(async (tx) => {
      const taken = await tx.get<{ id: string }>('SELECT id FROM app WHERE id = ?', [app.id]);
      if (taken) throw conflict(`app ${app.id} exists`);
      await tx.run(
        `INSERT INTO app (${APP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          app.id,
          app.name,
          app.contact ?? null,
          app.environment,
          words(app.requestedScopes),
          words(app.approvedScopes),
          words(app.events),
          app.grantReason ?? null,
          app.state,
          app.stateReason ?? null,
          app.writesEnabled ? 1 : 0,
          app.endpoints ? JSON.stringify(app.endpoints) : null,
          app.rateLimit ?? null,
          null,
          null,
          app.secretHash ?? null,
          app.jwks ?? null,
          db.time(app.createdAt),
          app.createdBy ?? null,
          app.approvedAt ? db.time(app.approvedAt) : null,
          app.approvedBy ?? null,
          db.time(app.createdAt),
          null,
        ],
      );
      return tx.get<AppSqlRow>(`SELECT ${APP_COLUMNS} FROM app WHERE id = ?`, [app.id]);
    });
    if (!row) throw conflict(`app ${app.id} could not be stored`);
    return toApp(row);
  }

  async getApp(id: string): Promise<AppRecord | undefined> {
    this.open();
    const row = await this.db.get<AppSqlRow>(`SELECT ${APP_COLUMNS} FROM app WHERE id = ?`, [id]);
    return row && toApp(row);
  }

  async listApps(): Promise<AppRecord[]> {
    this.open();
    const rows = await this.db.all<AppSqlRow>(`SELECT ${APP_COLUMNS} FROM app ORDER BY created_at DESC, id`);
    return rows.map(toApp);
  }

  async updateApp(
    id: string,
    decide: (current: AppRecord) => AppChanges,
    at: Date,
  ): Promise<AppRecord | undefined> {
    this.open();
    const db = this.db;
    const row = await db.transaction(async (tx) => {
      const current = await tx.get<AppSqlRow>(`SELECT ${APP_COLUMNS} FROM app WHERE id = ?${db.forUpdate}`, [
        id,
      ]);
      if (!current) return undefined;
      const changes = decide(toApp(current));
      const fields = (Object.keys(changes) as Array<keyof AppChanges>).filter(
        (f) => changes[f] !== undefined && CHANGE_COLUMNS[f] !== undefined,
      );
      const sets = fields.map((f) => `${CHANGE_COLUMNS[f]} = ?`);
      const params = fields.map((f) => this.value(f, changes[f]));
      await tx.run(`UPDATE app SET ${[...sets, 'updated_at = ?'].join(', ')} WHERE id = ?`, [
        ...params,
        db.time(at),
        id,
      ]);
      return tx.get<AppSqlRow>(`SELECT ${APP_COLUMNS} FROM app WHERE id = ?`, [id]);
    });
    return row && toApp(row);
  }

  async recordCalls(
    calls: ReadonlyArray<{ appId: string; day: string; calls: number; lastCallAt: Date }>,
  ): Promise<void> {
    this.open();
    if (calls.length === 0) return;
    const db = this.db;
    await db.transaction(async (tx) => {
      for (const c of calls) {
        await tx.run(
          'INSERT INTO app_call_day (app_id, day, calls) VALUES (?, ?, ?) ' +
            'ON CONFLICT (app_id, day) DO UPDATE SET calls = app_call_day.calls + excluded.calls',
          [c.appId, c.day, c.calls],
        );
        await tx.run(
          'UPDATE app SET last_call_at = ? WHERE id = ? AND (last_call_at IS NULL OR last_call_at < ?)',
          [db.time(c.lastCallAt), c.appId, db.time(c.lastCallAt)],
        );
      }
    });
  }

  async callsPerDay(appId: string, sinceDay: string): Promise<Array<{ day: string; calls: number }>> {
    this.open();
    const rows = await this.db.all<{ day: string; calls: number | string }>(
      'SELECT day, calls FROM app_call_day WHERE app_id = ? AND day >= ? ORDER BY day',
      [appId, sinceDay],
    );
    return rows.map((r) => ({ day: r.day, calls: Number(r.calls) }));
  }

  async addMisuse(m: AppMisuseRecord): Promise<void> {
    this.open();
    await this.db.run('INSERT INTO app_misuse (id, app_id, at, kind, detail) VALUES (?, ?, ?, ?, ?)', [
      m.id,
      m.appId,
      this.db.time(m.at),
      m.kind,
      m.detail,
    ]);
  }

  async countMisuse(appId: string, since: Date): Promise<number> {
    this.open();
    const row = await this.db.get<{ n: number | string }>(
      'SELECT COUNT(*) AS n FROM app_misuse WHERE app_id = ? AND at >= ?',
      [appId, this.db.time(since)],
    );
    return Number(row?.n ?? 0);
  }

  async listMisuse(appId: string, limit: number): Promise<AppMisuseRecord[]> {
    this.open();
    const rows = await this.db.all<{
      id: string;
      app_id: string;
      at: TimeValue;
      kind: string;
      detail: string;
    }>('SELECT id, app_id, at, kind, detail FROM app_misuse WHERE app_id = ? ORDER BY at DESC, id LIMIT ?', [
      appId,
      limit,
    ]);
    return rows.map((r) => ({
      id: r.id,
      appId: r.app_id,
      at: readTime(r.at),
      kind: r.kind,
      detail: r.detail,
    }));
  }
}

function toApp(row: AppSqlRow): AppRecord {
  const app: AppRecord = {
    id: row.id,
    name: row.name,
    environment: row.environment as AppEnvironment,
    requestedScopes: unwords(row.requested_scopes),
    approvedScopes: unwords(row.approved_scopes),
    events: unwords(row.events),
    state: row.state as AppState,
    writesEnabled: Number(row.writes_enabled) === 1,
    createdAt: readTime(row.created_at),
    updatedAt: readTime(row.updated_at),
  };
  if (row.contact !== null) app.contact = row.contact;
  if (row.grant_reason !== null) app.grantReason = row.grant_reason;
  if (row.state_reason !== null) app.stateReason = row.state_reason;
  if (row.endpoints !== null) app.endpoints = JSON.parse(row.endpoints) as string[];
  if (row.rate_limit !== null) app.rateLimit = Number(row.rate_limit);
  if (row.throttled_until !== null) app.throttledUntil = readTime(row.throttled_until);
  if (row.misuse_since !== null) app.misuseSince = readTime(row.misuse_since);
  if (row.secret_hash !== null) app.secretHash = row.secret_hash;
  if (row.jwks !== null) app.jwks = row.jwks;
  if (row.created_by !== null) app.createdBy = row.created_by;
  if (row.approved_at !== null) app.approvedAt = readTime(row.approved_at);
  if (row.approved_by !== null) app.approvedBy = row.approved_by;
  if (row.last_call_at !== null) app.lastCallAt = readTime(row.last_call_at);
  return app;
}
