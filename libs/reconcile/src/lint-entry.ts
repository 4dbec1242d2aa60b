/**
 * What `sinew lint` needs of reconciliations, without the engine, the alerts or the runner: the
 * schema's compile and the adapters' settings schemas (their drivers load only when a side is read).
 */
export { isReconciliationText, reconciliationLinter } from './schema';
export { adapterSchemas } from './parts';
