import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type NewMessage, type Store } from '@sinew/store';
import { repairRun } from './repair';

describe('repairing a run (SQLite ledger)', () => {
  let dir: string;
  let store: Store;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-recon-repair-'));
    store = await openStore({ dataDir: dir });
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function message(at: string, type: string): NewMessage {
    return {
      id: randomUUID(),
      channelId: 'adt',
      receivedAt: new Date(at),
      source: 'mllp',
      sender: 'PMS|CLINIC',
      messageType: type,
      controlId: `C${randomUUID().slice(0, 8)}`,
      contentType: 'hl7v2',
      raw: Buffer.from('MSH|^~\\&|PMS|CLINIC\r'),
      keys: { mrn: 'MRN-1' },
    };
  }

  it('sends again the newest message only, never an older one with stale values', async () => {
    const older = message('2026-12-06T09:00:00Z', 'ADT^A04');
    const newer = message('2026-12-06T10:00:00Z', 'ADT^A08');
    const delivered = message('2026-12-06T09:30:00Z', 'ADT^A04');
    await store.insertMessages([older, newer, delivered]);
    const delivery = { destination: 'ehr', payload: Buffer.from('{}'), payloadType: 'fhir' as const };
    const at = new Date('2026-12-06T10:00:01Z');
    for (const m of [older, delivered]) {
      await store.completePipeline(m.id, { status: 'processed', issues: [], deliveries: [delivery] });
      await store.recordAttempt(
        `${m.id}.ehr`,
        { number: 1, startedAt: at, finishedAt: at, outcome: 'sent', code: 'HTTP 200' },
        { status: 'sent' },
      );
    }
    // The newest message went nowhere (no destination took it).
    await store.completePipeline(newer.id, { status: 'processed', issues: [], deliveries: [] });

    const run = await store.reconcile.createRun({
      reconciliation: 'demo',
      trigger: 'cli',
      periodLabel: 'all',
      startedAt: at,
    });
    const base = {
      entity: 'patients',
      kind: 'missing_in_target' as const,
      class: 'delivered_not_applied' as const,
    };
    await store.reconcile.addDiscrepancies(run.id, [
      { ...base, key: 'MRN-1', reason: 'r', messageIds: [newer.id, older.id] },
      { ...base, key: 'MRN-2', reason: 'r', messageIds: [delivered.id] },
    ]);
    const actions = await repairRun(store.reconcile, store, run.id, { by: 'cli', dryRun: true });
    expect(actions.map((a) => [a.action, a.messageIds, a.deliveryIds])).toEqual([
      ['skipped', [newer.id, older.id], []],
      ['replayed', [delivered.id], [`${delivered.id}.ehr`]],
    ]);
    expect(actions[0]?.detail).toBe('its newest message has no sent delivery to send again');

    // A real repair marks what it sent again, and leaves the skipped one open.
    await repairRun(store.reconcile, store, run.id, { by: 'cli' });
    const rows = await store.reconcile.listDiscrepancies(run.id, {});
    expect(rows.map((d) => [d.key, d.repair?.action ?? 'open'])).toEqual([
      ['MRN-1', 'open'],
      ['MRN-2', 'replayed'],
    ]);
  });
});
