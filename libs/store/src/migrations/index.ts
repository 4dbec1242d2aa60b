import type { MigrationInterface } from 'typeorm';
import { Initial1763700000000 as PostgresInitial } from './postgres/1763700000000-initial';
import { Initial1763700000000 as SqliteInitial } from './sqlite/1763700000000-initial';

/** Committed migrations, oldest first. A schema change adds a class to each list. */
export const SQLITE_MIGRATIONS: Array<new () => MigrationInterface> = [SqliteInitial];
export const POSTGRES_MIGRATIONS: Array<new () => MigrationInterface> = [PostgresInitial];
