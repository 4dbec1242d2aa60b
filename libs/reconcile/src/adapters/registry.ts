/**
 * The adapter types a reconciliation's systems can be, by their `type:`. The `ledger` type
 * (what Sinew itself received) is not here: the runner reads the ledger itself.
 */
import type { SideReader } from '../types';
import { csvAdapter } from './csv';
import type { AdapterDefinition, AdapterDeps } from './errors';
import { fhirAdapter } from './fhir';
import { httpJsonAdapter } from './http-json';
import { sqlAdapter } from './sql';

export { ReconcileReadError, type AdapterDefinition, type AdapterDeps } from './errors';

// Each definition is typed by its own settings; the registry holds them as one list.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- settings differ per adapter type
type AnyAdapter = AdapterDefinition<any, any>;

export const ADAPTERS: readonly AnyAdapter[] = [fhirAdapter, httpJsonAdapter, sqlAdapter, csvAdapter];

export const ADAPTER_TYPES = ['fhir', 'http_json', 'sql', 'csv'] as const;
export type AdapterType = (typeof ADAPTER_TYPES)[number];

/** The adapter of a system type, or undefined for a type no adapter reads (`ledger`, typos). */
export function adapterFor(type: string): AnyAdapter | undefined {
  return ADAPTERS.find((adapter) => adapter.type === type);
}

/**
 * Validates a system's and a side's settings with the adapter's schemas and makes the reader.
 * Throws the zod error of the first invalid settings.
 */
export function createSideReader(
  system: { type: string } & Record<string, unknown>,
  side: unknown,
  deps: AdapterDeps = {},
): SideReader {
  const adapter = adapterFor(system.type);
  if (!adapter) throw new Error(`no adapter reads systems of type ${JSON.stringify(system.type)}`);
  return adapter.create(adapter.system.parse(system), adapter.side.parse(side), deps);
}
