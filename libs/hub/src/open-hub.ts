import type { TypeOrmStore } from '@sinew/store';
import { SqlHubStore } from './sql-hub-store';
import type { HubStore } from './types';

/**
 * Opens the clinic data hub in the ledger's database (its tables come with the ledger's
 * migrations). Closing the hub leaves the ledger open; close the ledger after the hub.
 */
export function openHub(store: TypeOrmStore): HubStore {
  return new SqlHubStore(store.sql);
}
