import type { MigrationInterface } from 'typeorm';
import { Access1797000000000 as PostgresAccess } from './postgres/1797000000000-access';
import { Deployments1796600000000 as PostgresDeployments } from './postgres/1796600000000-deployments';
import { MessageSearch1797100000000 as PostgresMessageSearch } from './postgres/1797100000000-message-search';
import { Sessions1797200000000 as PostgresSessions } from './postgres/1797200000000-sessions';
import { ChannelState1797300000000 as PostgresChannelState } from './postgres/1797300000000-channel-state';
import { Initial1763700000000 as PostgresInitial } from './postgres/1763700000000-initial';
import { OAuth1797400000000 as PostgresOAuth } from './postgres/1797400000000-oauth';
import { AckLatency1797500000000 as PostgresAckLatency } from './postgres/1797500000000-ack-latency';
import { KeyValueSearch1797600000000 as PostgresKeyValueSearch } from './postgres/1797600000000-key-value-search';
import { Reconcile1797714000000 as PostgresReconcile } from './postgres/1797714000000-reconcile';
import { MessageLink1797800000001 as PostgresMessageLink } from './postgres/1797800000001-message-link';
import { Access1797000000000 as SqliteAccess } from './sqlite/1797000000000-access';
import { Deployments1796600000000 as SqliteDeployments } from './sqlite/1796600000000-deployments';
import { MessageSearch1797100000000 as SqliteMessageSearch } from './sqlite/1797100000000-message-search';
import { Sessions1797200000000 as SqliteSessions } from './sqlite/1797200000000-sessions';
import { ChannelState1797300000000 as SqliteChannelState } from './sqlite/1797300000000-channel-state';
import { Initial1763700000000 as SqliteInitial } from './sqlite/1763700000000-initial';
import { OAuth1797400000000 as SqliteOAuth } from './sqlite/1797400000000-oauth';
import { AckLatency1797500000000 as SqliteAckLatency } from './sqlite/1797500000000-ack-latency';
import { KeyValueSearch1797600000000 as SqliteKeyValueSearch } from './sqlite/1797600000000-key-value-search';
import { Reconcile1797714000000 as SqliteReconcile } from './sqlite/1797714000000-reconcile';
import { SourceCursor1797800000000 as PostgresSourceCursor } from './postgres/1797800000000-source-cursor';
import { SourceCursor1797800000000 as SqliteSourceCursor } from './sqlite/1797800000000-source-cursor';
import { MessageLink1797800000001 as SqliteMessageLink } from './sqlite/1797800000001-message-link';
import { Hub1797900000001 as PostgresHub } from './postgres/1797900000001-hub';
import { Hub1797900000001 as SqliteHub } from './sqlite/1797900000001-hub';
import { Apps1797900000002 as PostgresApps } from './postgres/1797900000002-apps';
import { Apps1797900000002 as SqliteApps } from './sqlite/1797900000002-apps';
import { Webhooks1797900000003 as PostgresWebhooks } from './postgres/1797900000003-webhooks';
import { Webhooks1797900000003 as SqliteWebhooks } from './sqlite/1797900000003-webhooks';

/** Committed migrations, oldest first. A schema change adds a class to each list. */
export const SQLITE_MIGRATIONS: Array<new () => MigrationInterface> = [
  SqliteInitial,
  SqliteDeployments,
  SqliteAccess,
  SqliteMessageSearch,
  SqliteSessions,
  SqliteChannelState,
  SqliteOAuth,
  SqliteAckLatency,
  SqliteKeyValueSearch,
  SqliteReconcile,
  SqliteSourceCursor,
  SqliteMessageLink,
  SqliteHub,
  SqliteApps,
  SqliteWebhooks,
];
export const POSTGRES_MIGRATIONS: Array<new () => MigrationInterface> = [
  PostgresInitial,
  PostgresDeployments,
  PostgresAccess,
  PostgresMessageSearch,
  PostgresSessions,
  PostgresChannelState,
  PostgresOAuth,
  PostgresAckLatency,
  PostgresKeyValueSearch,
  PostgresReconcile,
  PostgresSourceCursor,
  PostgresMessageLink,
  PostgresHub,
  PostgresApps,
  PostgresWebhooks,
];
