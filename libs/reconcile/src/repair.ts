/**
 * Repair: the discrepancies the ledger can mend are re-sent. A dead-lettered delivery goes back
 * to pending; a delivery the target acknowledged but did not apply is sent again. The next run
 * shows them resolved (or not).
 */
import type { DeliveryRecord, Store } from '@sinew/store';
import {
  REPAIRABLE_CLASSES,
  type DiscrepancyClass,
  type DiscrepancyRecord,
  type ReconcileStore,
} from './types';

export interface RepairAction {
  discrepancyId: string;
  entity: string;
  class: DiscrepancyClass;
  action: 'replayed' | 'skipped';
  /** The deliveries sent again (or that would be, in a dry run). */
  deliveryIds: string[];
  messageIds: string[];
  detail: string;
}

export interface RepairOptions {
  /** Only these classes (each must be repairable); default: every repairable class. */
  classes?: readonly DiscrepancyClass[];
  dryRun?: boolean;
  /** Who asked (`user:NAME`, `key:NAME`, `cli`). */
  by: string;
  now?: () => Date;
}

export class RepairError extends Error {}

/** The store methods a repair uses. */
export type RepairLedger = Pick<Store, 'getDeliveries' | 'requeueDelivery'>;

/**
 * Which deliveries of a discrepancy's newest message a repair sends again. Only the newest: it
 * is the one the classification judged, and an older message would write stale values over the
 * target's newer ones.
 */
async function deliveriesToResend(
  ledger: RepairLedger,
  d: DiscrepancyRecord,
): Promise<{ message?: string; deliveries: DeliveryRecord[] }> {
  const newest = d.messageIds[0];
  if (newest === undefined) return { deliveries: [] };
  const deliveries = await ledger.getDeliveries(newest);
  const wanted = deliveries.filter((x) =>
    d.class === 'dead_lettered' ? x.status === 'dead_lettered' : x.status === 'sent',
  );
  return wanted.length > 0 ? { message: newest, deliveries: wanted } : { deliveries: [] };
}

/** Repairs the repairable discrepancies of a run (not those already repaired). */
export async function repairRun(
  store: ReconcileStore,
  ledger: RepairLedger,
  runId: string,
  options: RepairOptions,
): Promise<RepairAction[]> {
  const run = await store.getRun(runId);
  if (!run) throw new RepairError(`no reconciliation run ${runId}`);
  const classes = options.classes ?? REPAIRABLE_CLASSES;
  const wrong = classes.filter((c) => !REPAIRABLE_CLASSES.includes(c));
  if (wrong.length > 0) {
    throw new RepairError(
      `${wrong.join(', ')} cannot be repaired by Sinew (repairable: ${REPAIRABLE_CLASSES.join(', ')})`,
    );
  }
  const now = options.now ?? (() => new Date());
  const actions: RepairAction[] = [];
  for (const cls of classes) {
    let after: string | undefined;
    for (;;) {
      const page = await store.listDiscrepancies(runId, {
        class: cls,
        limit: 500,
        ...(after ? { after } : {}),
      });
      for (const d of page) {
        if (d.repairedAt) continue;
        const { message, deliveries } = await deliveriesToResend(ledger, d);
        if (deliveries.length === 0) {
          actions.push({
            discrepancyId: d.id,
            entity: d.entity,
            class: d.class,
            action: 'skipped',
            deliveryIds: [],
            messageIds: d.messageIds,
            detail:
              d.class === 'dead_lettered'
                ? 'its newest message has no dead-lettered delivery left (already replayed?)'
                : 'its newest message has no sent delivery to send again',
          });
          continue;
        }
        if (!options.dryRun) {
          for (const delivery of deliveries) {
            await ledger.requeueDelivery(delivery.id, { sent: d.class === 'delivered_not_applied' });
          }
        }
        const action: RepairAction = {
          discrepancyId: d.id,
          entity: d.entity,
          class: d.class,
          action: 'replayed',
          deliveryIds: deliveries.map((x) => x.id),
          messageIds: message ? [message] : [],
          detail: `${deliveries.map((x) => x.destination).join(', ')} sent again`,
        };
        actions.push(action);
      }
      if (page.length < 500) break;
      after = page[page.length - 1]?.id;
    }
  }
  if (!options.dryRun) {
    const byDetail = new Map<string, string[]>();
    // Only what was sent again is marked: a skipped one stays open for a person (or a later repair).
    for (const a of actions.filter((x) => x.action === 'replayed')) {
      const k = `${a.action}\u0000${a.detail}`;
      byDetail.set(k, [...(byDetail.get(k) ?? []), a.discrepancyId]);
    }
    const at = now();
    for (const [k, ids] of byDetail) {
      const [action, detail] = k.split('\u0000') as ['replayed' | 'skipped', string];
      await store.markRepaired(ids, { at, by: options.by, action, detail });
    }
  }
  return actions;
}
