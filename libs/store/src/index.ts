export * from './store';
export { StoreError } from './errors';
export { openStore, SQLITE_FILE_NAME, type OpenStoreOptions, type StoreLogger } from './open-store';
export { TypeOrmStore } from './typeorm-store';
export type { SqlDatabase, SqlExecutor, SqlValue, RowsInsert } from './sql';
export { storeEntities, type StoreKind } from './entities';
export { contentHash } from './content-hash';
export { SqlReconcileStore } from './reconcile-store';
export { reconcileEntities } from './reconcile-entities';
export type {
  AppChanges,
  AppEnvironment,
  AppMisuseRecord,
  AppRecord,
  AppState,
  AppStore,
  NewAppRecord,
} from './app-store';
export type { ChildLink, LinkStore, MessageLinks, ParentLink } from './link-store';
export type {
  AccessStore,
  ApiKeyRecord,
  ApiKeyState,
  AuditChainState,
  AuditEventRecord,
  AuditSearch,
  LoginState,
  NewApiKeyRecord,
  NewAuditEvent,
  NewOAuthClientRecord,
  NewUserRecord,
  OAuthClientRecord,
  OAuthClientState,
  SigningKeyRecord,
  UnsealedAuditEvent,
  UserChanges,
  UserRecord,
  UserState,
} from './access-store';
