/**
 * The parts a reconciler is built from, as the product ships them: the adapters (plus `ledger`,
 * which reads the engine's own ledger), the comparison, the classification and the identity's
 * normalisers.
 */
import { z } from 'zod';
import { ADAPTERS, adapterFor } from './adapters/registry';
import { classify } from './classify';
import { compareEntity, type CompareOptions } from './compare';
import { ledgerRecords, type LedgerStore } from './ledger';
import { compileIdentity } from './normalise';
import type { ReconcilerParts } from './reconciler';
import type { SideSchemas } from './schema';

/** The `ledger` system: no settings; a side names the channels and the business key. */
const ledgerSystem = z.strictObject({});
const ledgerSide = z.strictObject({
  channels: z.array(z.string().min(1)).min(1).describe('the channels whose messages carry the entity'),
  key: z.string().min(1).describe('the business key (the channel’s `keys:` name) that holds the identity'),
});

export interface PartsOptions {
  /** The engine's ledger, for `ledger` systems (none: such a side cannot be read). */
  ledger?: LedgerStore;
  compare?: CompareOptions;
}

/** A system's schema without its `type` (the reconciliation's compile checks `type` itself). */
function withoutType(schema: z.ZodType): z.ZodType {
  return schema instanceof z.ZodObject && 'type' in schema.shape ? schema.omit({ type: true }) : schema;
}

/** The adapters' settings schemas by type, `ledger` included. */
export function adapterSchemas(): SideSchemas {
  const schemas: SideSchemas = { ledger: { system: ledgerSystem, side: ledgerSide } };
  for (const a of ADAPTERS) schemas[a.type] = { system: withoutType(a.system), side: a.side };
  return schemas;
}

export function reconcileParts(options: PartsOptions = {}): ReconcilerParts {
  return {
    sideSchemas: adapterSchemas(),
    reader(reconciliation, entity, side) {
      const sideConfig = entity[side];
      const system = reconciliation.systems[sideConfig.system];
      if (!system) throw new Error(`entity ${entity.name}: no system ${sideConfig.system}`);
      if (system.type === 'ledger') {
        const ledger = options.ledger;
        if (!ledger) throw new Error(`entity ${entity.name}: a ledger side needs the engine's ledger`);
        const scope = ledgerSide.parse(sideConfig.settings);
        const key = compileIdentity(entity.identityNormalise);
        return { read: (ctx) => ledgerRecords(ledger, scope, ctx.period, key) };
      }
      const adapter = adapterFor(system.type);
      if (!adapter) throw new Error(`entity ${entity.name}: no adapter for system type ${system.type}`);
      return adapter.create(
        adapter.system.parse({ type: system.type, ...system.settings }),
        adapter.side.parse(sideConfig.settings),
        {
          systemName: system.name,
          timezone: reconciliation.timezone,
        },
      );
    },
    compare: (entity) => (source, target) => compareEntity(source, target, entity, options.compare ?? {}),
    classify: (entity, reconciliation) => (difference, evidence) =>
      classify(difference, evidence, { identity: entity.identity, timezone: reconciliation.timezone }),
    normaliseKey: (entity) => compileIdentity(entity.identityNormalise),
  };
}
