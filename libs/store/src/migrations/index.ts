import type { MigrationInterface } from 'typeorm';
import { Deployments1796600000000 as PostgresDeployments } from './postgres/1796600000000-deployments';
import { Initial1763700000000 as PostgresInitial } from './postgres/1763700000000-initial';
import { Deployments1796600000000 as SqliteDeployments } from './sqlite/1796600000000-deployments';
import { Initial1763700000000 as SqliteInitial } from './sqlite/1763700000000-initial';

/** Committed migrations, oldest first. A schema change adds a class to each list. */
export const SQLITE_MIGRATIONS: Array<new () => MigrationInterface> = [SqliteInitial, SqliteDeployments];
export const POSTGRES_MIGRATIONS: Array<new () => MigrationInterface> = [
  PostgresInitial,
  PostgresDeployments,
];
