import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import type { StoreKind } from './entities';

/**
 * The access tables (people, API keys, OAuth clients, the audit log) as TypeORM entity schemas, in the
 * ledger's database. Like the ledger's own tables they describe what the committed
 * migrations create (a test checks both agree on each backend); the access repository
 * (`access-store.ts`) reads and writes them with parameterised SQL.
 */
export interface AppUserRow {
  id: string;
  username: string;
  role: string;
  passwordHash: string;
  channels: string | null;
  extraScopes: string;
  state: string;
  failedLogins: number;
  lockouts: number;
  lockedUntil: Date | number | null;
  lastLoginAt: Date | number | null;
  lastLoginFrom: string | null;
  createdAt: Date | number;
  updatedAt: Date | number;
}

export interface ApiKeyRow {
  id: string;
  prefix: string;
  name: string;
  secretHash: string;
  scopes: string;
  channels: string | null;
  state: string;
  createdAt: Date | number;
  createdBy: string | null;
  expiresAt: Date | number | null;
  revokedAt: Date | number | null;
  lastUsedAt: Date | number | null;
  lastUsedFrom: string | null;
}

export interface SessionRow {
  idHash: string;
  userId: string;
  csrfToken: string;
  createdAt: Date | number;
  lastSeenAt: Date | number;
  expiresAt: Date | number;
  revokedAt: Date | number | null;
  createdFrom: string | null;
}

export interface AuditEventRow {
  seq: number;
  at: Date | number;
  actor: string;
  actorKind: string;
  via: string | null;
  action: string;
  objectIds: string | null;
  filter: string | null;
  remoteAddress: string | null;
  outcome: string;
  contentRead: number;
  prevHash: string;
  hash: string;
}

export interface OAuthClientRow {
  id: string;
  name: string;
  scopes: string;
  channels: string | null;
  state: string;
  secretHash: string | null;
  publicJwk: string | null;
  createdAt: Date | number;
  createdBy: string | null;
  revokedAt: Date | number | null;
  lastUsedAt: Date | number | null;
  lastUsedFrom: string | null;
}

export interface OAuthSigningKeyRow {
  kid: string;
  privateJwk: string;
  createdAt: Date | number;
}

export interface OAuthAssertionRow {
  id: string;
  expiresAt: Date | number;
}

export interface AuditChainRow {
  id: number;
  baseSeq: number;
  baseHash: string;
  headSeq: number;
  headHash: string;
}

export function accessEntities(kind: StoreKind): EntitySchema[] {
  const pg = kind === 'postgres';
  const text = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: 'text',
    ...extra,
  });
  const time = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: pg ? 'timestamptz' : 'integer',
    ...extra,
  });
  const int = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: 'integer',
    ...extra,
  });
  const bigint = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: pg ? 'bigint' : 'integer',
    ...extra,
  });

  const appUser = new EntitySchema<AppUserRow>({
    name: 'app_user',
    tableName: 'app_user',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'app_user_pkey' }),
      username: text(),
      role: text(),
      passwordHash: text({ name: 'password_hash' }),
      channels: text({ nullable: true }),
      extraScopes: text({ name: 'extra_scopes' }),
      state: text(),
      failedLogins: int({ name: 'failed_logins', default: 0 }),
      lockouts: int({ default: 0 }),
      lockedUntil: time({ name: 'locked_until', nullable: true }),
      lastLoginAt: time({ name: 'last_login_at', nullable: true }),
      lastLoginFrom: text({ name: 'last_login_from', nullable: true }),
      createdAt: time({ name: 'created_at' }),
      updatedAt: time({ name: 'updated_at' }),
    },
    indices: [{ name: 'app_user_username_key', columns: ['username'], unique: true }],
    checks: [
      { name: 'app_user_role_check', expression: "role IN ('admin', 'engineer', 'operator', 'viewer')" },
      { name: 'app_user_state_check', expression: "state IN ('active', 'disabled')" },
    ],
  });

  const apiKey = new EntitySchema<ApiKeyRow>({
    name: 'api_key',
    tableName: 'api_key',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'api_key_pkey' }),
      prefix: text(),
      name: text(),
      secretHash: text({ name: 'secret_hash' }),
      scopes: text(),
      channels: text({ nullable: true }),
      state: text(),
      createdAt: time({ name: 'created_at' }),
      createdBy: text({ name: 'created_by', nullable: true }),
      expiresAt: time({ name: 'expires_at', nullable: true }),
      revokedAt: time({ name: 'revoked_at', nullable: true }),
      lastUsedAt: time({ name: 'last_used_at', nullable: true }),
      lastUsedFrom: text({ name: 'last_used_from', nullable: true }),
    },
    indices: [{ name: 'api_key_prefix_key', columns: ['prefix'], unique: true }],
    checks: [{ name: 'api_key_state_check', expression: "state IN ('active', 'paused', 'revoked')" }],
  });

  const auditEvent = new EntitySchema<AuditEventRow>({
    name: 'audit_event',
    tableName: 'audit_event',
    columns: {
      seq: bigint({ primary: true, primaryKeyConstraintName: 'audit_event_pkey' }),
      at: time(),
      actor: text(),
      actorKind: text({ name: 'actor_kind' }),
      via: text({ nullable: true }),
      action: text(),
      objectIds: text({ name: 'object_ids', nullable: true }),
      filter: text({ nullable: true }),
      remoteAddress: text({ name: 'remote_address', nullable: true }),
      outcome: text(),
      contentRead: int({ name: 'content_read' }),
      prevHash: text({ name: 'prev_hash' }),
      hash: text(),
    },
    indices: [
      { name: 'audit_event_actor_idx', columns: ['actor', 'seq'] },
      { name: 'audit_event_action_idx', columns: ['action', 'seq'] },
      { name: 'audit_event_at_idx', columns: ['at'] },
      { name: 'audit_event_via_idx', columns: ['via', 'seq'] },
    ],
  });

  const auditChain = new EntitySchema<AuditChainRow>({
    name: 'audit_chain',
    tableName: 'audit_chain',
    columns: {
      id: int({ primary: true, primaryKeyConstraintName: 'audit_chain_pkey' }),
      baseSeq: bigint({ name: 'base_seq' }),
      baseHash: text({ name: 'base_hash' }),
      headSeq: bigint({ name: 'head_seq' }),
      headHash: text({ name: 'head_hash' }),
    },
    checks: [{ name: 'audit_chain_single_check', expression: 'id = 1' }],
  });

  const appSession = new EntitySchema<SessionRow>({
    name: 'app_session',
    tableName: 'app_session',
    columns: {
      idHash: text({ name: 'id_hash', primary: true, primaryKeyConstraintName: 'app_session_pkey' }),
      userId: text({ name: 'user_id' }),
      csrfToken: text({ name: 'csrf_token' }),
      createdAt: time({ name: 'created_at' }),
      lastSeenAt: time({ name: 'last_seen_at' }),
      expiresAt: time({ name: 'expires_at' }),
      revokedAt: time({ name: 'revoked_at', nullable: true }),
      createdFrom: text({ name: 'created_from', nullable: true }),
    },
    indices: [{ name: 'app_session_user_idx', columns: ['userId'] }],
  });

  const oauthClient = new EntitySchema<OAuthClientRow>({
    name: 'oauth_client',
    tableName: 'oauth_client',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'oauth_client_pkey' }),
      name: text(),
      scopes: text(),
      channels: text({ nullable: true }),
      state: text(),
      secretHash: text({ name: 'secret_hash', nullable: true }),
      publicJwk: text({ name: 'public_jwk', nullable: true }),
      createdAt: time({ name: 'created_at' }),
      createdBy: text({ name: 'created_by', nullable: true }),
      revokedAt: time({ name: 'revoked_at', nullable: true }),
      lastUsedAt: time({ name: 'last_used_at', nullable: true }),
      lastUsedFrom: text({ name: 'last_used_from', nullable: true }),
    },
    checks: [{ name: 'oauth_client_state_check', expression: "state IN ('active', 'paused', 'revoked')" }],
  });

  const oauthSigningKey = new EntitySchema<OAuthSigningKeyRow>({
    name: 'oauth_signing_key',
    tableName: 'oauth_signing_key',
    columns: {
      kid: text({ primary: true, primaryKeyConstraintName: 'oauth_signing_key_pkey' }),
      privateJwk: text({ name: 'private_jwk' }),
      createdAt: time({ name: 'created_at' }),
    },
  });

  const oauthAssertion = new EntitySchema<OAuthAssertionRow>({
    name: 'oauth_assertion',
    tableName: 'oauth_assertion',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'oauth_assertion_pkey' }),
      expiresAt: time({ name: 'expires_at' }),
    },
    indices: [{ name: 'oauth_assertion_expires_idx', columns: ['expiresAt'] }],
  });

  return [appUser, apiKey, auditEvent, auditChain, appSession, oauthClient, oauthSigningKey, oauthAssertion];
}
