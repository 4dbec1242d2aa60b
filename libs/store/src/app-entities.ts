import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import type { StoreKind } from './entities';

/**
 * The registry of apps that use the clinic's data through the FHIR API (`app`), their calls
 * counted per day (`app_call_day`) and the misuse reported for them (`app_misuse`), as
 * TypeORM entity schemas matching the committed migrations (a test checks both agree).
 */
export interface AppRow {
  id: string;
  name: string;
  contact: string | null;
  environment: string;
  requestedScopes: string;
  approvedScopes: string;
  events: string;
  grantReason: string | null;
  state: string;
  stateReason: string | null;
  writesEnabled: number;
  endpoints: string | null;
  rateLimit: number | null;
  throttledUntil: Date | number | null;
  misuseSince: Date | number | null;
  secretHash: string | null;
  jwks: string | null;
  createdAt: Date | number;
  createdBy: string | null;
  approvedAt: Date | number | null;
  approvedBy: string | null;
  updatedAt: Date | number;
  lastCallAt: Date | number | null;
}

export interface AppCallDayRow {
  appId: string;
  day: string;
  calls: number;
}

export interface AppMisuseRow {
  id: string;
  appId: string;
  at: Date | number;
  kind: string;
  detail: string;
}

export function appEntities(kind: StoreKind): EntitySchema[] {
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

  const app = new EntitySchema<AppRow>({
    name: 'app',
    tableName: 'app',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'app_pkey' }),
      name: text(),
      contact: text({ nullable: true }),
      environment: text(),
      requestedScopes: text({ name: 'requested_scopes' }),
      approvedScopes: text({ name: 'approved_scopes' }),
      events: text(),
      grantReason: text({ name: 'grant_reason', nullable: true }),
      state: text(),
      stateReason: text({ name: 'state_reason', nullable: true }),
      writesEnabled: int({ name: 'writes_enabled' }),
      endpoints: text({ nullable: true }),
      rateLimit: int({ name: 'rate_limit', nullable: true }),
      throttledUntil: time({ name: 'throttled_until', nullable: true }),
      misuseSince: time({ name: 'misuse_since', nullable: true }),
      secretHash: text({ name: 'secret_hash', nullable: true }),
      jwks: text({ nullable: true }),
      createdAt: time({ name: 'created_at' }),
      createdBy: text({ name: 'created_by', nullable: true }),
      approvedAt: time({ name: 'approved_at', nullable: true }),
      approvedBy: text({ name: 'approved_by', nullable: true }),
      updatedAt: time({ name: 'updated_at' }),
      lastCallAt: time({ name: 'last_call_at', nullable: true }),
    },
    checks: [
      {
        name: 'app_state_check',
        expression: "state IN ('pending', 'active', 'paused', 'suspended', 'revoked')",
      },
      { name: 'app_environment_check', expression: "environment IN ('sandbox', 'production')" },
    ],
  });

  const appCallDay = new EntitySchema<AppCallDayRow>({
    name: 'app_call_day',
    tableName: 'app_call_day',
    columns: {
      appId: text({ name: 'app_id', primary: true, primaryKeyConstraintName: 'app_call_day_pkey' }),
      day: text({ primary: true, primaryKeyConstraintName: 'app_call_day_pkey' }),
      calls: int(),
    },
  });

  const appMisuse = new EntitySchema<AppMisuseRow>({
    name: 'app_misuse',
    tableName: 'app_misuse',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'app_misuse_pkey' }),
      appId: text({ name: 'app_id' }),
      at: time(),
      kind: text(),
      detail: text(),
    },
    indices: [{ name: 'app_misuse_app_idx', columns: ['appId', 'at'] }],
  });

  return [app, appCallDay, appMisuse];
}
