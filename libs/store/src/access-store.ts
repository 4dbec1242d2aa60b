import { conflict, invalid } from './errors';
import { readTime, type TimeValue } from './rows';
import type { SqlDatabase, SqlExecutor, SqlValue } from './sql';

/**
 * The access repository: people, API keys, OAuth clients and the audit log, in the ledger's database
 * (`store.access`). Plain records in, plain records out; the rules (roles, scopes, password
 * hashing, lockout, key format, the audit chain's hash) live in `@sinew/auth`, which is the
 * only intended caller. Secrets never reach this layer: it holds hashes.
 */
export interface AccessStore {
  /** Adds a user; rejects with `store.conflict` when the username is taken. */
  insertUser(user: NewUserRecord): Promise<UserRecord>;
  getUser(id: string): Promise<UserRecord | undefined>;
  getUserByName(username: string): Promise<UserRecord | undefined>;
  /** Every user, by username. */
  listUsers(): Promise<UserRecord[]>;
  /** Changes the given fields; resolves false when the user does not exist. */
  updateUser(id: string, changes: UserChanges, at: Date): Promise<boolean>;
  /**
   * Reads the user's login state under a row lock, lets `decide` compute the next one and
   * writes it, in one transaction (concurrent logins count every failure). Resolves with
   * the state written, or undefined when the user does not exist.
   */
  updateLoginState(id: string, decide: (current: LoginState) => LoginState): Promise<LoginState | undefined>;

  /** Adds an API key; rejects with `store.conflict` when the prefix is taken. */
  insertKey(key: NewApiKeyRecord): Promise<ApiKeyRecord>;
  getKey(id: string): Promise<ApiKeyRecord | undefined>;
  getKeyByPrefix(prefix: string): Promise<ApiKeyRecord | undefined>;
  /** Every key, newest first. */
  listKeys(): Promise<ApiKeyRecord[]>;
  /**
   * Sets a key's state. `revoked` is final: a revoked key keeps that state whatever is asked
   * later. Resolves with the key as it now is, or undefined when it does not exist.
   */
  setKeyState(id: string, state: ApiKeyState, at: Date): Promise<ApiKeyRecord | undefined>;
  /** Records when and from where the key was last used. */
  touchKey(id: string, at: Date, from: string | undefined): Promise<void>;

  /** Registers an OAuth2 client (its id is unique). */
  insertClient(client: NewOAuthClientRecord): Promise<OAuthClientRecord>;
  getClient(id: string): Promise<OAuthClientRecord | undefined>;
  /** Every client, newest first. */
  listClients(): Promise<OAuthClientRecord[]>;
  /**
   * Sets a client's state; `revoked` is final. Resolves with the client as it now is, or
   * undefined when it does not exist.
   */
  setClientState(id: string, state: OAuthClientState, at: Date): Promise<OAuthClientRecord | undefined>;
  /** Records when and from where the client last obtained a token. */
  touchClient(id: string, at: Date, from: string | undefined): Promise<void>;
  /**
   * The token-signing key: the oldest stored one, or `candidate` when none is stored yet (it
   * is stored then; of several processes starting together, all end up with the same key).
   */
  signingKey(candidate: SigningKeyRecord): Promise<SigningKeyRecord>;
  /**
   * Records a client assertion's id until it expires: true the first time, false when it was
   * already used (a replay). Forgets expired ids on the way.
   */
  useAssertion(id: string, expiresAt: Date, now: Date): Promise<boolean>;

  /**
   * Appends one event to the audit chain, in one transaction that holds the chain's lock
   * (the `audit_chain` row), so appends from every process are serialised and the chain never
   * forks: the event gets seq = head + 1, `seal` computes its hash from the previous head's
   * hash, and the head moves to it.
   */
  /** A browser session, found later by the sha256 of its cookie value. */
  insertSession(session: NewSessionRecord): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  /** Moves the session's last-seen time (its idle timeout counts from there). */
  touchSession(idHash: string, at: Date): Promise<void>;
  /** Ends a session (logout); false when there was no open session with that hash. */
  revokeSession(idHash: string, at: Date): Promise<boolean>;
  /** Ends every open session of a user (disabled, password changed); how many. */
  revokeUserSessions(userId: string, at: Date): Promise<number>;

  appendAudit(event: NewAuditEvent, seal: (event: UnsealedAuditEvent) => string): Promise<AuditEventRecord>;
  /** Where the chain starts (after pruning: the last pruned row) and its head. */
  auditChain(): Promise<AuditChainState>;
  /** Events with seq > `afterSeq`, oldest first. */
  scanAudit(afterSeq: number, limit: number): Promise<AuditEventRecord[]>;
  /** Events matching the filter, newest first (seq below `beforeSeq` when given). */
  searchAudit(search: AuditSearch): Promise<AuditEventRecord[]>;
  /**
   * Deletes the oldest events, all recorded before `before` (up to the first one recorded at
   * or after it), and moves the chain's start to the last deleted one (its seq and hash), in
   * one transaction under the chain's lock. Resolves with the count deleted and the new start.
   */
  pruneAudit(before: Date): Promise<{ pruned: number; baseSeq: number; baseHash: string }>;
}

export interface NewSessionRecord {
  idHash: string;
  userId: string;
  csrfToken: string;
  createdAt: Date;
  expiresAt: Date;
  createdFrom?: string;
}

export interface SessionRecord extends NewSessionRecord {
  lastSeenAt: Date;
  revokedAt?: Date;
}

export type UserState = 'active' | 'disabled';

export interface NewUserRecord {
  id: string;
  username: string;
  /** `admin`, `engineer`, `operator` or `viewer` (the table's check constraint). */
  role: string;
  /** The PHC string of the password's hash. */
  passwordHash: string;
  /** The channels the user may use; undefined: every channel. */
  channels?: string[];
  extraScopes: string[];
  createdAt: Date;
}

export interface LoginState {
  /** Failures since the last success or the last lockout. */
  failedLogins: number;
  /** Lockouts since the last success (each one doubles the next lock's length). */
  lockouts: number;
  lockedUntil?: Date;
  lastLoginAt?: Date;
  lastLoginFrom?: string;
}

export interface UserRecord extends LoginState {
  id: string;
  username: string;
  role: string;
  passwordHash: string;
  channels?: string[];
  extraScopes: string[];
  state: UserState;
  createdAt: Date;
  updatedAt: Date;
}

export interface UserChanges {
  role?: string;
  passwordHash?: string;
  /** null: every channel. */
  channels?: string[] | null;
  extraScopes?: string[];
  state?: UserState;
}

export type ApiKeyState = 'active' | 'paused' | 'revoked';

export interface NewApiKeyRecord {
  id: string;
  /** The identifying part of the key, stored in clear (unique). */
  prefix: string;
  name: string;
  /** Hash of the whole key (lowercase hex). */
  secretHash: string;
  scopes: string[];
  channels?: string[];
  createdAt: Date;
  createdBy?: string;
  expiresAt?: Date;
}

export interface ApiKeyRecord extends NewApiKeyRecord {
  state: ApiKeyState;
  revokedAt?: Date;
  lastUsedAt?: Date;
  lastUsedFrom?: string;
}

export type OAuthClientState = 'active' | 'paused' | 'revoked';

export interface NewOAuthClientRecord {
  id: string;
  name: string;
  scopes: string[];
  channels?: string[];
  /** sha256 of the client's secret (lowercase hex), for `client_secret_basic`/`_post`. */
  secretHash?: string;
  /** The client's public key as a JWK (JSON text), for `private_key_jwt`. */
  publicJwk?: string;
  createdAt: Date;
  createdBy?: string;
}

export interface OAuthClientRecord extends NewOAuthClientRecord {
  state: OAuthClientState;
  revokedAt?: Date;
  lastUsedAt?: Date;
  lastUsedFrom?: string;
}

export interface SigningKeyRecord {
  kid: string;
  /** The private key as a JWK (JSON text). */
  privateJwk: string;
  createdAt: Date;
}

/** An audit event as written: `objectIds` and `filter` are JSON texts, stored as given. */
export interface NewAuditEvent {
  at: Date;
  actor: string;
  actorKind: string;
  via?: string;
  action: string;
  objectIds?: string;
  filter?: string;
  remoteAddress?: string;
  outcome: string;
  contentRead: boolean;
}

export interface UnsealedAuditEvent extends NewAuditEvent {
  seq: number;
  prevHash: string;
}

/**
 * An audit event as stored. Fields are the columns' values as read (the verifier hashes
 * exactly these): `contentRead` is the stored integer, `objectIds` and `filter` JSON texts.
 */
export interface AuditEventRecord {
  seq: number;
  at: Date;
  actor: string;
  actorKind: string;
  via?: string;
  action: string;
  objectIds?: string;
  filter?: string;
  remoteAddress?: string;
  outcome: string;
  /** 1 when message content was returned, else 0. */
  contentRead: number;
  prevHash: string;
  hash: string;
}

export interface AuditChainState {
  /** The last pruned event's seq (0: nothing pruned). */
  baseSeq: number;
  /** Its hash (64 zeros: nothing pruned), which the first kept event's prev_hash must equal. */
  baseHash: string;
  /** The last appended event's seq (equal to baseSeq when the chain is empty). */
  headSeq: number;
  headHash: string;
}

export interface AuditSearch {
  actor?: string;
  /** The key's prefix, the client's or the app's id. */
  via?: string;
  action?: string;
  since?: Date;
  until?: Date;
  beforeSeq?: number;
  limit: number;
}

interface UserSqlRow {
  id: string;
  username: string;
  role: string;
  password_hash: string;
  channels: string | null;
  extra_scopes: string;
  state: string;
  failed_logins: number | string;
  lockouts: number | string;
  locked_until: TimeValue | null;
  last_login_at: TimeValue | null;
  last_login_from: string | null;
  created_at: TimeValue;
  updated_at: TimeValue;
}

interface KeySqlRow {
  id: string;
  prefix: string;
  name: string;
  secret_hash: string;
  scopes: string;
  channels: string | null;
  state: string;
  created_at: TimeValue;
  created_by: string | null;
  expires_at: TimeValue | null;
  revoked_at: TimeValue | null;
  last_used_at: TimeValue | null;
  last_used_from: string | null;
}

interface ClientSqlRow {
  id: string;
  name: string;
  scopes: string;
  channels: string | null;
  state: string;
  secret_hash: string | null;
  public_jwk: string | null;
  created_at: TimeValue;
  created_by: string | null;
  revoked_at: TimeValue | null;
  last_used_at: TimeValue | null;
  last_used_from: string | null;
}

interface SessionSqlRow {
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: TimeValue;
  last_seen_at: TimeValue;
  expires_at: TimeValue;
  revoked_at: TimeValue | null;
  created_from: string | null;
}

interface AuditSqlRow {
  seq: number | string;
  at: TimeValue;
  actor: string;
  actor_kind: string;
  via: string | null;
  action: string;
  object_ids: string | null;
  filter: string | null;
  remote_address: string | null;
  outcome: string;
  content_read: number | string;
  prev_hash: string;
  hash: string;
}

const USER_COLUMNS =
  'id, username, role, password_hash, channels, extra_scopes, state, failed_logins, lockouts, ' +
  'locked_until, last_login_at, last_login_from, created_at, updated_at';
const KEY_COLUMNS =
  'id, prefix, name, secret_hash, scopes, channels, state, created_at, created_by, expires_at, ' +
  'revoked_at, last_used_at, last_used_from';
const CLIENT_COLUMNS =
  'id, name, scopes, channels, state, secret_hash, public_jwk, created_at, created_by, revoked_at, ' +
  'last_used_at, last_used_from';
const AUDIT_COLUMNS =
  'seq, at, actor, actor_kind, via, action, object_ids, filter, remote_address, outcome, content_read, ' +
  'prev_hash, hash';
const KEY_STATES: ReadonlySet<string> = new Set<ApiKeyState>(['active', 'paused', 'revoked']);
const USER_STATES: ReadonlySet<string> = new Set<UserState>(['active', 'disabled']);

/** `AccessStore` on the ledger's SQL layer (SQLite or PostgreSQL). */
export class SqlAccessStore implements AccessStore {
  constructor(
    private readonly db: SqlDatabase,
    /** Throws when the store is closed. */
    private readonly open: () => void,
  ) {}

  async insertUser(user: NewUserRecord): Promise<UserRecord> {
    this.open();
    if (!user.id || !user.username) throw invalid('a user needs an id and a username');
    const at = this.db.time(user.createdAt);
    const row = await this.db.transaction(async (tx) => {
      const inserted = await tx.get<UserSqlRow>(
        `INSERT INTO app_user (id, username, role, password_hash, channels, extra_scopes, state, failed_logins, lockouts, created_at, updated_at) ` +
          `VALUES (?, ?, ?, ?, ?, ?, 'active', 0, 0, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING ${USER_COLUMNS}`,
        [
          user.id,
          user.username,
          user.role,
          user.passwordHash,
          user.channels ? JSON.stringify(user.channels) : null,
          JSON.stringify(user.extraScopes),
          at,
          at,
        ],
      );
      return inserted;
    });
    if (!row) throw conflict(`a user named ${user.username} exists`);
    return toUser(row);
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    this.open();
    const row = await this.db.get<UserSqlRow>(`SELECT ${USER_COLUMNS} FROM app_user WHERE id = ?`, [id]);
    return row && toUser(row);
  }

  async getUserByName(username: string): Promise<UserRecord | undefined> {
    this.open();
    const row = await this.db.get<UserSqlRow>(`SELECT ${USER_COLUMNS} FROM app_user WHERE username = ?`, [
      username,
    ]);
    return row && toUser(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    this.open();
    const rows = await this.db.all<UserSqlRow>(`SELECT ${USER_COLUMNS} FROM app_user ORDER BY username`);
    return rows.map(toUser);
  }

  async updateUser(id: string, changes: UserChanges, at: Date): Promise<boolean> {
    this.open();
    const sets: string[] = [];
    const params: SqlValue[] = [];
    if (changes.role !== undefined) {
      sets.push('role = ?');
      params.push(changes.role);
    }
    if (changes.passwordHash !== undefined) {
      sets.push('password_hash = ?');
      params.push(changes.passwordHash);
    }
    if (changes.channels !== undefined) {
      sets.push('channels = ?');
      params.push(changes.channels === null ? null : JSON.stringify(changes.channels));
    }
    if (changes.extraScopes !== undefined) {
      sets.push('extra_scopes = ?');
      params.push(JSON.stringify(changes.extraScopes));
    }
    if (changes.state !== undefined) {
      if (!USER_STATES.has(changes.state))
        throw invalid(`a user is active or disabled, not ${changes.state}`);
      sets.push('state = ?');
      params.push(changes.state);
    }
    sets.push('updated_at = ?');
    params.push(this.db.time(at));
    const changed = await this.db.transaction((tx) =>
      tx.run(`UPDATE app_user SET ${sets.join(', ')} WHERE id = ?`, [...params, id]),
    );
    return changed > 0;
  }

  async updateLoginState(
    id: string,
    decide: (current: LoginState) => LoginState,
  ): Promise<LoginState | undefined> {
    this.open();
    const db = this.db;
    return db.transaction(async (tx) => {
      const row = await tx.get<UserSqlRow>(
        `SELECT ${USER_COLUMNS} FROM app_user WHERE id = ?${db.forUpdate}`,
        [id],
      );
      if (!row) return undefined;
      const user = toUser(row);
      const next = decide({
        failedLogins: user.failedLogins,
        lockouts: user.lockouts,
        ...(user.lockedUntil ? { lockedUntil: user.lockedUntil } : {}),
        ...(user.lastLoginAt ? { lastLoginAt: user.lastLoginAt } : {}),
        ...(user.lastLoginFrom !== undefined ? { lastLoginFrom: user.lastLoginFrom } : {}),
      });
      await tx.run(
        'UPDATE app_user SET failed_logins = ?, lockouts = ?, locked_until = ?, last_login_at = ?, last_login_from = ? WHERE id = ?',
        [
          next.failedLogins,
          next.lockouts,
          next.lockedUntil ? db.time(next.lockedUntil) : null,
          next.lastLoginAt ? db.time(next.lastLoginAt) : null,
          next.lastLoginFrom ?? null,
          id,
        ],
      );
      return next;
    });
  }

  async insertKey(key: NewApiKeyRecord): Promise<ApiKeyRecord> {
    this.open();
    if (!key.id || !key.prefix || !key.secretHash) throw invalid('a key needs an id, a prefix and a hash');
    const db = this.db;
    const row = await db.transaction((tx) =>
      tx.get<KeySqlRow>(
        `INSERT INTO api_key (id, prefix, name, secret_hash, scopes, channels, state, created_at, created_by, expires_at) ` +
          `VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?) ON CONFLICT (prefix) DO NOTHING RETURNING ${KEY_COLUMNS}`,
        [
          key.id,
          key.prefix,
          key.name,
          key.secretHash,
          JSON.stringify(key.scopes),
          key.channels ? JSON.stringify(key.channels) : null,
          db.time(key.createdAt),
          key.createdBy ?? null,
          key.expiresAt ? db.time(key.expiresAt) : null,
        ],
      ),
    );
    if (!row) throw conflict(`a key with prefix ${key.prefix} exists`);
    return toKey(row);
  }

  async getKey(id: string): Promise<ApiKeyRecord | undefined> {
    this.open();
    const row = await this.db.get<KeySqlRow>(`SELECT ${KEY_COLUMNS} FROM api_key WHERE id = ?`, [id]);
    return row && toKey(row);
  }

  async getKeyByPrefix(prefix: string): Promise<ApiKeyRecord | undefined> {
    this.open();
    const row = await this.db.get<KeySqlRow>(`SELECT ${KEY_COLUMNS} FROM api_key WHERE prefix = ?`, [prefix]);
    return row && toKey(row);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    this.open();
    const rows = await this.db.all<KeySqlRow>(
      `SELECT ${KEY_COLUMNS} FROM api_key ORDER BY created_at DESC, prefix`,
    );
    return rows.map(toKey);
  }

  async setKeyState(id: string, state: ApiKeyState, at: Date): Promise<ApiKeyRecord | undefined> {
    this.open();
    if (!KEY_STATES.has(state)) throw invalid(`a key is active, paused or revoked, not ${String(state)}`);
    const row = await this.setState<KeySqlRow>('api_key', KEY_COLUMNS, id, state, at);
    return row && toKey(row);
  }

  /**
   * A key's or a client's new state (`active`, `paused`, `revoked`; revoked is for good and
   * stamps `revoked_at`), then the row as it now stands.
   */
  private setState<R>(
    table: 'api_key' | 'oauth_client',
    columns: string,
    id: string,
    state: string,
    at: Date,
  ): Promise<R | undefined> {
    const db = this.db;
    return db.transaction(async (tx) => {
      await tx.run(
        `UPDATE ${table} SET state = ?, revoked_at = CASE WHEN ? = 'revoked' THEN ? ELSE revoked_at END ` +
          "WHERE id = ? AND state <> 'revoked'",
        [state, state, db.time(at), id],
      );
      return tx.get<R>(`SELECT ${columns} FROM ${table} WHERE id = ?`, [id]);
    });
  }

  /** When and from where a key or a client was last used. */
  private async touch(
    table: 'api_key' | 'oauth_client',
    id: string,
    at: Date,
    from: string | undefined,
  ): Promise<void> {
    await this.db.transaction((tx) =>
      tx.run(`UPDATE ${table} SET last_used_at = ?, last_used_from = ? WHERE id = ?`, [
        this.db.time(at),
        from ?? null,
        id,
      ]),
    );
  }

  async touchKey(id: string, at: Date, from: string | undefined): Promise<void> {
    this.open();
    await this.touch('api_key', id, at, from);
  }

  async insertClient(client: NewOAuthClientRecord): Promise<OAuthClientRecord> {
    this.open();
    if (!client.id || (!client.secretHash && !client.publicJwk))
      throw invalid('a client needs an id and a secret hash or a public key');
    const db = this.db;
    const row = await db.transaction((tx) =>
      tx.get<ClientSqlRow>(
        `INSERT INTO oauth_client (id, name, scopes, channels, state, secret_hash, public_jwk, created_at, created_by) ` +
          `VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING ${CLIENT_COLUMNS}`,
        [
          client.id,
          client.name,
          JSON.stringify(client.scopes),
          client.channels ? JSON.stringify(client.channels) : null,
          client.secretHash ?? null,
          client.publicJwk ?? null,
          db.time(client.createdAt),
          client.createdBy ?? null,
        ],
      ),
    );
    if (!row) throw conflict(`a client with id ${client.id} exists`);
    return toClient(row);
  }

  async getClient(id: string): Promise<OAuthClientRecord | undefined> {
    this.open();
    const row = await this.db.get<ClientSqlRow>(`SELECT ${CLIENT_COLUMNS} FROM oauth_client WHERE id = ?`, [
      id,
    ]);
    return row && toClient(row);
  }

  async listClients(): Promise<OAuthClientRecord[]> {
    this.open();
    const rows = await this.db.all<ClientSqlRow>(
      `SELECT ${CLIENT_COLUMNS} FROM oauth_client ORDER BY created_at DESC, id`,
    );
    return rows.map(toClient);
  }

  async setClientState(
    id: string,
    state: OAuthClientState,
    at: Date,
  ): Promise<OAuthClientRecord | undefined> {
    this.open();
    if (!KEY_STATES.has(state)) throw invalid(`a client is active, paused or revoked, not ${String(state)}`);
    const row = await this.setState<ClientSqlRow>('oauth_client', CLIENT_COLUMNS, id, state, at);
    return row && toClient(row);
  }

  async touchClient(id: string, at: Date, from: string | undefined): Promise<void> {
    this.open();
    await this.touch('oauth_client', id, at, from);
  }

  async signingKey(candidate: SigningKeyRecord): Promise<SigningKeyRecord> {
    this.open();
    const db = this.db;
    const read = () =>
      db.get<{ kid: string; private_jwk: string; created_at: TimeValue }>(
        'SELECT kid, private_jwk, created_at FROM oauth_signing_key ORDER BY created_at, kid LIMIT 1',
      );
    let row = await read();
    if (!row) {
      await db.transaction(async (tx) => {
        // Under the table's lock (PostgreSQL) or the single writer (SQLite): only one key is kept.
        if (db.forUpdate) await tx.run('LOCK TABLE oauth_signing_key IN EXCLUSIVE MODE');
        const present = await tx.get<{ kid: string }>('SELECT kid FROM oauth_signing_key LIMIT 1');
        if (!present)
          await tx.run('INSERT INTO oauth_signing_key (kid, private_jwk, created_at) VALUES (?, ?, ?)', [
            candidate.kid,
            candidate.privateJwk,
            db.time(candidate.createdAt),
          ]);
      });
      row = await read();
    }
    if (!row) throw conflict('the token-signing key could not be stored');
    return { kid: row.kid, privateJwk: row.private_jwk, createdAt: readTime(row.created_at) };
  }

  async useAssertion(id: string, expiresAt: Date, now: Date): Promise<boolean> {
    this.open();
    const db = this.db;
    return db.transaction(async (tx) => {
      await tx.run('DELETE FROM oauth_assertion WHERE expires_at < ?', [db.time(now)]);
      const inserted = await tx.get<{ id: string }>(
        'INSERT INTO oauth_assertion (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING id',
        [id, db.time(expiresAt)],
      );
      return inserted !== undefined;
    });
  }

  async insertSession(session: NewSessionRecord): Promise<void> {
    this.open();
    const at = this.db.time(session.createdAt);
    await this.db.transaction((tx) =>
      tx.run(
        'INSERT INTO app_session (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, created_from) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?)',
        [
          session.idHash,
          session.userId,
          session.csrfToken,
          at,
          at,
          this.db.time(session.expiresAt),
          session.createdFrom ?? null,
        ],
      ),
    );
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    this.open();
    const row = await this.db.get<SessionSqlRow>(
      'SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, revoked_at, created_from ' +
        'FROM app_session WHERE id_hash = ?',
      [idHash],
    );
    if (!row) return undefined;
    const session: SessionRecord = {
      idHash: row.id_hash,
      userId: row.user_id,
      csrfToken: row.csrf_token,
      createdAt: readTime(row.created_at),
      lastSeenAt: readTime(row.last_seen_at),
      expiresAt: readTime(row.expires_at),
    };
    if (row.revoked_at !== null) session.revokedAt = readTime(row.revoked_at);
    if (row.created_from !== null) session.createdFrom = row.created_from;
    return session;
  }

  async touchSession(idHash: string, at: Date): Promise<void> {
    this.open();
    await this.db.transaction((tx) =>
      tx.run('UPDATE app_session SET last_seen_at = ? WHERE id_hash = ? AND revoked_at IS NULL', [
        this.db.time(at),
        idHash,
      ]),
    );
  }

  async revokeSession(idHash: string, at: Date): Promise<boolean> {
    this.open();
    const n = await this.db.transaction((tx) =>
      tx.run('UPDATE app_session SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL', [
        this.db.time(at),
        idHash,
      ]),
    );
    return n > 0;
  }

  async revokeUserSessions(userId: string, at: Date): Promise<number> {
    this.open();
    return this.db.transaction((tx) =>
      tx.run('UPDATE app_session SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL', [
        this.db.time(at),
        userId,
      ]),
    );
  }

  async appendAudit(
    event: NewAuditEvent,
    seal: (event: UnsealedAuditEvent) => string,
  ): Promise<AuditEventRecord> {
    this.open();
    const db = this.db;
    return db.transaction(async (tx) => {
      const head = await chainOf(tx, db.forUpdate);
      const unsealed: UnsealedAuditEvent = { ...event, seq: head.headSeq + 1, prevHash: head.headHash };
      const hash = seal(unsealed);
      await tx.run(
        `INSERT INTO audit_event (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          unsealed.seq,
          db.time(event.at),
          event.actor,
          event.actorKind,
          event.via ?? null,
          event.action,
          event.objectIds ?? null,
          event.filter ?? null,
          event.remoteAddress ?? null,
          event.outcome,
          event.contentRead ? 1 : 0,
          unsealed.prevHash,
          hash,
        ],
      );
      await tx.run('UPDATE audit_chain SET head_seq = ?, head_hash = ? WHERE id = 1', [unsealed.seq, hash]);
      const record: AuditEventRecord = {
        seq: unsealed.seq,
        at: event.at,
        actor: event.actor,
        actorKind: event.actorKind,
        action: event.action,
        outcome: event.outcome,
        contentRead: event.contentRead ? 1 : 0,
        prevHash: unsealed.prevHash,
        hash,
      };
      if (event.via !== undefined) record.via = event.via;
      if (event.objectIds !== undefined) record.objectIds = event.objectIds;
      if (event.filter !== undefined) record.filter = event.filter;
      if (event.remoteAddress !== undefined) record.remoteAddress = event.remoteAddress;
      return record;
    });
  }

  async auditChain(): Promise<AuditChainState> {
    this.open();
    return chainOf(this.db, '');
  }

  async scanAudit(afterSeq: number, limit: number): Promise<AuditEventRecord[]> {
    this.open();
    const rows = await this.db.all<AuditSqlRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_event WHERE seq > ? ORDER BY seq LIMIT ?`,
      [afterSeq, limit],
    );
    return rows.map(toAudit);
  }

  async searchAudit(search: AuditSearch): Promise<AuditEventRecord[]> {
    this.open();
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (search.actor !== undefined) {
      where.push('actor = ?');
      params.push(search.actor);
    }
    if (search.via !== undefined) {
      where.push('via = ?');
      params.push(search.via);
    }
    if (search.action !== undefined) {
      where.push('action = ?');
      params.push(search.action);
    }
    if (search.since !== undefined) {
      where.push('at >= ?');
      params.push(this.db.time(search.since));
    }
    if (search.until !== undefined) {
      where.push('at < ?');
      params.push(this.db.time(search.until));
    }
    if (search.beforeSeq !== undefined) {
      where.push('seq < ?');
      params.push(search.beforeSeq);
    }
    const rows = await this.db.all<AuditSqlRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_event` +
        (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
        ' ORDER BY seq DESC LIMIT ?',
      [...params, search.limit],
    );
    return rows.map(toAudit);
  }

  async pruneAudit(before: Date): Promise<{ pruned: number; baseSeq: number; baseHash: string }> {
    this.open();
    const db = this.db;
    return db.transaction(async (tx) => {
      const chain = await chainOf(tx, db.forUpdate);
      const firstKept = await tx.get<{ seq: number | string | null }>(
        'SELECT MIN(seq) AS seq FROM audit_event WHERE at >= ?',
        [db.time(before)],
      );
      const last =
        firstKept?.seq === null || firstKept?.seq === undefined ? chain.headSeq : Number(firstKept.seq) - 1;
      if (last <= chain.baseSeq) return { pruned: 0, baseSeq: chain.baseSeq, baseHash: chain.baseHash };
      const lastRow = await tx.get<{ hash: string }>('SELECT hash FROM audit_event WHERE seq = ?', [last]);
      if (!lastRow) throw conflict(`audit event ${last} is missing: the chain is broken, nothing pruned`);
      const pruned = await tx.run('DELETE FROM audit_event WHERE seq <= ?', [last]);
      await tx.run('UPDATE audit_chain SET base_seq = ?, base_hash = ? WHERE id = 1', [last, lastRow.hash]);
      return { pruned, baseSeq: last, baseHash: lastRow.hash };
    });
  }
}

async function chainOf(on: SqlExecutor, lock: string): Promise<AuditChainState> {
  const row = await on.get<{
    base_seq: number | string;
    base_hash: string;
    head_seq: number | string;
    head_hash: string;
  }>(`SELECT base_seq, base_hash, head_seq, head_hash FROM audit_chain WHERE id = 1${lock}`);
  if (!row) throw conflict('the audit chain row is missing (audit_chain, id 1)');
  return {
    baseSeq: Number(row.base_seq),
    baseHash: row.base_hash,
    headSeq: Number(row.head_seq),
    headHash: row.head_hash,
  };
}

function toUser(row: UserSqlRow): UserRecord {
  const user: UserRecord = {
    id: row.id,
    username: row.username,
    role: row.role,
    passwordHash: row.password_hash,
    extraScopes: JSON.parse(row.extra_scopes) as string[],
    state: row.state as UserState,
    failedLogins: Number(row.failed_logins),
    lockouts: Number(row.lockouts),
    createdAt: readTime(row.created_at),
    updatedAt: readTime(row.updated_at),
  };
  if (row.channels !== null) user.channels = JSON.parse(row.channels) as string[];
  if (row.locked_until !== null) user.lockedUntil = readTime(row.locked_until);
  if (row.last_login_at !== null) user.lastLoginAt = readTime(row.last_login_at);
  if (row.last_login_from !== null) user.lastLoginFrom = row.last_login_from;
  return user;
}

function toKey(row: KeySqlRow): ApiKeyRecord {
  const key: ApiKeyRecord = {
    id: row.id,
    prefix: row.prefix,
    name: row.name,
    secretHash: row.secret_hash,
    scopes: JSON.parse(row.scopes) as string[],
    state: row.state as ApiKeyState,
    createdAt: readTime(row.created_at),
  };
  if (row.channels !== null) key.channels = JSON.parse(row.channels) as string[];
  if (row.created_by !== null) key.createdBy = row.created_by;
  if (row.expires_at !== null) key.expiresAt = readTime(row.expires_at);
  if (row.revoked_at !== null) key.revokedAt = readTime(row.revoked_at);
  if (row.last_used_at !== null) key.lastUsedAt = readTime(row.last_used_at);
  if (row.last_used_from !== null) key.lastUsedFrom = row.last_used_from;
  return key;
}

function toClient(row: ClientSqlRow): OAuthClientRecord {
  const client: OAuthClientRecord = {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as string[],
    state: row.state as OAuthClientState,
    createdAt: readTime(row.created_at),
  };
  if (row.channels !== null) client.channels = JSON.parse(row.channels) as string[];
  if (row.secret_hash !== null) client.secretHash = row.secret_hash;
  if (row.public_jwk !== null) client.publicJwk = row.public_jwk;
  if (row.created_by !== null) client.createdBy = row.created_by;
  if (row.revoked_at !== null) client.revokedAt = readTime(row.revoked_at);
  if (row.last_used_at !== null) client.lastUsedAt = readTime(row.last_used_at);
  if (row.last_used_from !== null) client.lastUsedFrom = row.last_used_from;
  return client;
}

function toAudit(row: AuditSqlRow): AuditEventRecord {
  const event: AuditEventRecord = {
    seq: Number(row.seq),
    at: readTime(row.at),
    actor: row.actor,
    actorKind: row.actor_kind,
    action: row.action,
    outcome: row.outcome,
    contentRead: Number(row.content_read),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
  if (row.via !== null) event.via = row.via;
  if (row.object_ids !== null) event.objectIds = row.object_ids;
  if (row.filter !== null) event.filter = row.filter;
  if (row.remote_address !== null) event.remoteAddress = row.remote_address;
  return event;
}
