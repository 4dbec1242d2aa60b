/**
 * The ledger's side of a reconciliation: what Sinew itself received for an entity (by business
 * key), and, for each record that differs, the messages behind it and what became of them.
 */
import type { MessageRecord, Store } from '@sinew/store';
import type { Normaliser } from './schema';
import type {
  EvidenceMessage,
  LedgerEvidence,
  LedgerKeyCount,
  LedgerLookup,
  Period,
  ReconcileStore,
  SideRecord,
} from './types';

/** Which channels carry an entity, and the business key that holds its identity. */
export interface LedgerScope {
  channels: readonly string[];
  /** The business key's name in those channels' `keys:` (e.g. `mrn`). */
  key: string;
}

/** The store methods the ledger side reads (the whole `Store` satisfies it). */
export type LedgerStore = Pick<Store, 'searchMessages' | 'getDeliveries' | 'getAttempts'> & {
  /** Where the ledger counts distinct keys in one query, when it can. */
  readonly reconcile?: Pick<ReconcileStore, 'countLedgerKeys'>;
};

/** Messages read per key at most: the newest ones explain a difference. */
const MESSAGES_PER_KEY = 20;
/** Keys looked up at once. */
const CONCURRENCY = 8;

function reasonOf(message: MessageRecord): string | undefined {
  const issue = message.issues.find((i) => i.severity === 'error') ?? message.issues[0];
  if (!issue) return undefined;
  return `${issue.code}${issue.location ? ` at ${issue.location}` : ''}`;
}

async function evidenceMessage(store: LedgerStore, message: MessageRecord): Promise<EvidenceMessage> {
  const deliveries = await store.getDeliveries(message.id);
  const out: EvidenceMessage['deliveries'] = [];
  for (const d of deliveries) {
    let lastResponse: string | undefined;
    if (d.status !== 'sent' && d.attempts > 0) {
      const attempts = await store.getAttempts(d.id);
      const last = attempts[attempts.length - 1];
      if (last) lastResponse = [last.code, last.error].filter(Boolean).join(': ') || undefined;
    } else if (d.lastError) {
      lastResponse = d.lastError;
    }
    out.push({
      id: d.id,
      destination: d.destination,
      status: d.status,
      ...(lastResponse ? { lastResponse: lastResponse.slice(0, 300) } : {}),
      updatedAt: d.updatedAt,
    });
  }
  const reason = reasonOf(message);
  return {
    id: message.id,
    channelId: message.channelId,
    receivedAt: message.receivedAt,
    ...(message.messageType ? { messageType: message.messageType } : {}),
    ...(message.controlId ? { controlId: message.controlId } : {}),
    status: message.status,
    ...(reason ? { reason } : {}),
    deliveries: out,
  };
}

/**
 * Looks up, for identity values, the messages of the scope's channels whose business key holds
 * them (an index lookup per key and channel), newest first, with their deliveries.
 */
export function ledgerLookup(store: LedgerStore, scope: LedgerScope): LedgerLookup {
  return {
    async evidence(keys) {
      const result = new Map<string, LedgerEvidence>();
      const queue = [...new Set(keys)];
      const worker = async (): Promise<void> => {
        for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
          const found: MessageRecord[] = [];
          for (const channelId of scope.channels) {
            found.push(
              ...(await store.searchMessages({
                channelId,
                key: { name: scope.key, value: key },
                limit: MESSAGES_PER_KEY,
              })),
            );
          }
          found.sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime() || b.seq - a.seq);
          const messages: EvidenceMessage[] = [];
          for (const m of found.slice(0, MESSAGES_PER_KEY)) messages.push(await evidenceMessage(store, m));
          result.set(key, { key, messages });
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker));
      return result;
    },
  };
}

/**
 * The identity values Sinew received in the period on the scope's channels, one record each
 * (with how many messages carried it in `fields.messages`), whatever became of the messages.
 */
export async function* ledgerRecords(
  store: LedgerStore,
  scope: LedgerScope,
  period: Period,
  normaliseKey: (key: string) => string = (k) => k.trim(),
): AsyncGenerator<SideRecord> {
  const seen = new Map<string, number>();
  for (const channelId of scope.channels) {
    let after: { receivedAt: Date; seq: number } | undefined;
    for (;;) {
      const page = await store.searchMessages({
        channelId,
        ...(period.from ? { since: period.from } : {}),
        ...(period.to ? { until: period.to } : {}),
        ...(after ? { after } : {}),
        limit: 1000,
      });
      for (const m of page) {
        const raw = m.keys[scope.key];
        if (raw === undefined || raw === '') continue;
        const key = normaliseKey(raw);
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      const last = page[page.length - 1];
      if (!last || page.length < 1000) break;
      after = { receivedAt: last.receivedAt, seq: last.seq };
    }
  }
  for (const [key, messages] of seen) yield { key, fields: { messages } };
}

const SQL_NORMALISERS: ReadonlySet<Normaliser> = new Set(['trim', 'upper', 'lower']);

/**
 * How many distinct identity values Sinew received in the period. With `normalise`, the identity's
 * normalisers, when the database can apply them all (trim, upper, lower), one
 * `count(DISTINCT …)` query answers; otherwise the messages are paged through and `normaliseKey`
 * applied to each value (trim when none is given).
 */
export async function ledgerCount(
  store: LedgerStore,
  scope: LedgerScope,
  period: Period,
  normaliseKey?: (key: string) => string,
  normalise?: readonly Normaliser[],
): Promise<number> {
  const steps = normalise ?? (normaliseKey ? undefined : (['trim'] as const));
  const counter = store.reconcile?.countLedgerKeys?.bind(store.reconcile);
  if (counter && steps && steps.every((n) => SQL_NORMALISERS.has(n))) {
    const query: LedgerKeyCount = {
      channels: scope.channels,
      key: scope.key,
      ...(period.from ? { since: period.from } : {}),
      ...(period.to ? { until: period.to } : {}),
      normalise: steps as LedgerKeyCount['normalise'],
    };
    return counter(query);
  }
  let n = 0;
  for await (const record of ledgerRecords(store, scope, period, normaliseKey)) if (record.key) n++;
  return n;
}
