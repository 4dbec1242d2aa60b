import { randomUUID } from 'node:crypto';
import type { NewDiscrepancy, RunSummary } from '@sinew/reconcile';
import type { Store } from './store';

/**
 * The behaviour of the reconciliation store (`store.reconcile`) on every backend, as jest
 * tests: a backend's integration spec calls it with a factory that opens a fresh, empty store.
 */
export function describeReconcileBehaviour(openEmptyStore: () => Promise<Store>): void {
  let store: Store;

  beforeAll(async () => {
    store = await openEmptyStore();
  });

  afterAll(async () => {
    await store?.close();
  });

  const t = (iso: string) => new Date(iso);
  const name = () => `r${randomUUID().slice(0, 8)}`;
  const summary: RunSummary = {
    entities: [
      {
        name: 'patients',
        counts: { source: { '': 10 }, ledger: 9, target: { '': 9 } },
        matched: 8,
        byKind: { missing_in_target: 1, field_mismatch: 1 },
        byClass: { never_received: 1, delivered_not_applied: 1 },
      },
    ],
    discrepancies: 2,
    alerts: ['patients.never_received >= 1'],
  };
  const discrepancy = (i: number, overrides: Partial<NewDiscrepancy> = {}): NewDiscrepancy => ({
    entity: 'patients',
    kind: 'missing_in_target',
    class: 'never_received',
    key: `M${i}`,
    reason: 'no message for this mrn reached Sinew in the ledger',
    messageIds: [],
    source: { key: `M${i}`, fields: { family: 'DOE', birth_date: '1980-01-02', amount: 12.5 } },
    ...overrides,
  });

  describe('reconcile: runs', () => {
    it('records a run as running, then finished with its summary; newest first, per reconciliation', async () => {
      const rec = name();
      const first = await store.reconcile.createRun({
        reconciliation: rec,
        trigger: 'schedule',
        periodFrom: t('2026-12-06T05:00:00.000Z'),
        periodTo: t('2026-12-07T05:00:00.000Z'),
        periodLabel: 'yesterday',
        startedAt: t('2026-12-07T07:30:00.000Z'),
      });
      expect(first).toEqual({
        id: expect.any(String),
        reconciliation: rec,
        status: 'running',
        trigger: 'schedule',
        periodFrom: t('2026-12-06T05:00:00.000Z'),
        periodTo: t('2026-12-07T05:00:00.000Z'),
        periodLabel: 'yesterday',
        startedAt: t('2026-12-07T07:30:00.000Z'),
      });
      expect(await store.reconcile.getRun(first.id)).toEqual(first);

      await store.reconcile.finishRun(first.id, {
        status: 'discrepancies',
        finishedAt: t('2026-12-07T07:31:02.345Z'),
        summary,
      });
      const finished = await store.reconcile.getRun(first.id);
      expect(finished).toEqual({
        ...first,
        status: 'discrepancies',
        finishedAt: t('2026-12-07T07:31:02.345Z'),
        summary,
      });

      const second = await store.reconcile.createRun({
        reconciliation: rec,
        trigger: 'cli',
        periodLabel: 'all',
        startedAt: t('2026-12-07T09:00:00.000Z'),
      });
      expect(second).not.toHaveProperty('periodFrom');
      await store.reconcile.finishRun(second.id, {
        status: 'failed',
        finishedAt: t('2026-12-07T09:00:01.000Z'),
        error: 'the source pms did not answer: ECONNREFUSED',
      });
      const other = await store.reconcile.createRun({
        reconciliation: name(),
        trigger: 'api',
        periodLabel: 'today',
        startedAt: t('2026-12-07T10:00:00.000Z'),
      });

      const runs = await store.reconcile.listRuns({ reconciliation: rec });
      expect(runs.map((r) => r.id)).toEqual([second.id, first.id]);
      expect(runs[0]).toMatchObject({
        status: 'failed',
        error: 'the source pms did not answer: ECONNREFUSED',
        periodLabel: 'all',
      });
      expect(runs[0]).not.toHaveProperty('summary');
      expect((await store.reconcile.listRuns({ reconciliation: rec, limit: 1 })).map((r) => r.id)).toEqual([
        second.id,
      ]);
      expect((await store.reconcile.listRuns({})).map((r) => r.id)).toEqual(
        expect.arrayContaining([other.id, second.id, first.id]),
      );
      expect(await store.reconcile.getRun(randomUUID())).toBeUndefined();
    });

    it('refuses a trigger or an outcome outside the declared ones', async () => {
      await expect(
        store.reconcile.createRun({
          reconciliation: name(),
          trigger: 'cron' as 'cli',
          periodLabel: 'all',
          startedAt: new Date(),
        }),
      ).rejects.toMatchObject({ code: 'store.invalid' });
      const run = await store.reconcile.createRun({
        reconciliation: name(),
        trigger: 'cli',
        periodLabel: 'all',
        startedAt: new Date(),
      });
      await expect(
        store.reconcile.finishRun(run.id, { status: 'running' as 'clean', finishedAt: new Date() }),
      ).rejects.toMatchObject({ code: 'store.invalid' });
    });
  });

  describe('reconcile: discrepancies', () => {
    it('keeps each discrepancy as given, in the order added, filtered and paged', async () => {
      const run = await store.reconcile.createRun({
        reconciliation: name(),
        trigger: 'cli',
        periodLabel: 'all',
        startedAt: new Date(),
      });
      const mismatch = discrepancy(2, {
        kind: 'field_mismatch',
        class: 'delivered_not_applied',
        reason: 'the ADT^A04 of 2026-12-06 10:02 was delivered to ehr (HTTP 201)',
        messageIds: ['m-2b', 'm-2a'],
        target: {
          key: 'M2',
          fields: { family: 'DOE', birth_date: '1980-02-01', amount: null },
          ref: 'Patient/7',
        },
        fields: [
          {
            field: 'birth_date',
            source: '1980-01-02',
            target: '1980-02-01',
            sourceNormalised: '1980-01-02',
            targetNormalised: '1980-02-01',
          },
        ],
      });
      await store.reconcile.addDiscrepancies(run.id, [discrepancy(1), mismatch]);
      await store.reconcile.addDiscrepancies(run.id, [
        discrepancy(3, {
          entity: 'visits',
          kind: 'duplicate_in_source',
          class: 'duplicate',
          copies: 2,
          source: undefined,
        }),
        discrepancy(4),
      ]);

      const all = await store.reconcile.listDiscrepancies(run.id, {});
      expect(all.map((d) => d.key)).toEqual(['M1', 'M2', 'M3', 'M4']);
      const { entity, ...given } = mismatch;
      expect(all[1]).toEqual({ ...given, entity, id: expect.any(String), runId: run.id });
      expect(all[2]).toEqual({
        id: expect.any(String),
        runId: run.id,
        entity: 'visits',
        kind: 'duplicate_in_source',
        class: 'duplicate',
        key: 'M3',
        reason: 'no message for this mrn reached Sinew in the ledger',
        messageIds: [],
        copies: 2,
      });
      expect(new Set(all.map((d) => d.id)).size).toBe(4);

      expect(
        (await store.reconcile.listDiscrepancies(run.id, { class: 'never_received' })).map((d) => d.key),
      ).toEqual(['M1', 'M4']);
      expect(
        (await store.reconcile.listDiscrepancies(run.id, { entity: 'visits' })).map((d) => d.key),
      ).toEqual(['M3']);
      const page1 = await store.reconcile.listDiscrepancies(run.id, { limit: 3 });
      expect(page1.map((d) => d.key)).toEqual(['M1', 'M2', 'M3']);
      const page2 = await store.reconcile.listDiscrepancies(run.id, { limit: 3, after: page1[2]?.id });
      expect(page2.map((d) => d.key)).toEqual(['M4']);
      expect(
        (await store.reconcile.listDiscrepancies(run.id, { class: 'never_received', after: all[0]?.id })).map(
          (d) => d.key,
        ),
      ).toEqual(['M4']);
      await expect(store.reconcile.listDiscrepancies(run.id, { after: randomUUID() })).rejects.toMatchObject({
        code: 'store.invalid',
      });
      expect(await store.reconcile.listDiscrepancies(randomUUID(), {})).toEqual([]);
    });

    it('records a repair on the discrepancies it acted on', async () => {
      const run = await store.reconcile.createRun({
        reconciliation: name(),
        trigger: 'cli',
        periodLabel: 'all',
        startedAt: new Date(),
      });
      await store.reconcile.addDiscrepancies(run.id, [
        discrepancy(1, { class: 'dead_lettered' }),
        discrepancy(2, { class: 'dead_lettered' }),
        discrepancy(3),
      ]);
      const [a, b, c] = await store.reconcile.listDiscrepancies(run.id, {});
      await store.reconcile.markRepaired([a!.id, b!.id], {
        at: t('2026-12-07T11:00:00.000Z'),
        by: 'user:alice',
        action: 'replayed',
        detail: 'delivery d-1 replayed',
      });
      const after = await store.reconcile.listDiscrepancies(run.id, {});
      expect(after[0]).toMatchObject({
        repairedAt: t('2026-12-07T11:00:00.000Z'),
        repair: { by: 'user:alice', action: 'replayed', detail: 'delivery d-1 replayed' },
      });
      expect(after[1]?.repairedAt).toEqual(t('2026-12-07T11:00:00.000Z'));
      expect(after[2]).toEqual(c);
      expect(after[2]).not.toHaveProperty('repairedAt');
    });
  });

  describe('reconcile: schedule claims', () => {
    it('gives each due time to exactly one claimant, and remembers the latest', async () => {
      const rec = name();
      expect(await store.reconcile.lastClaimed(rec)).toBeUndefined();
      const due = t('2026-12-07T02:30:00.000Z');
      const claims = await Promise.all(
        ['a', 'b', 'c', 'd', 'e'].map((owner) => store.reconcile.claimSchedule(rec, due, owner)),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.reconcile.claimSchedule(rec, due, 'f')).toBe(false);
      expect(await store.reconcile.claimSchedule(name(), due, 'f')).toBe(true);
      expect(await store.reconcile.claimSchedule(rec, t('2026-12-08T02:30:00.000Z'), 'a')).toBe(true);
      expect(await store.reconcile.claimSchedule(rec, t('2026-12-05T02:30:00.000Z'), 'a')).toBe(true);
      expect(await store.reconcile.lastClaimed(rec)).toEqual(t('2026-12-08T02:30:00.000Z'));
    });
  });

  describe('reconcile: sync-error flags', () => {
    it('keeps one open flag per reconciliation, entity and class until it is acknowledged', async () => {
      const rec = name();
      const raised = await store.reconcile.raiseFlag({
        reconciliation: rec,
        entity: 'results',
        class: 'delivered_not_applied',
        count: 3,
        runId: 'run-1',
        raisedAt: t('2026-12-07T02:31:00.000Z'),
      });
      expect(raised).toEqual({
        id: expect.any(String),
        reconciliation: rec,
        entity: 'results',
        class: 'delivered_not_applied',
        count: 3,
        runId: 'run-1',
        raisedAt: t('2026-12-07T02:31:00.000Z'),
      });
      const again = await store.reconcile.raiseFlag({
        reconciliation: rec,
        entity: 'results',
        class: 'delivered_not_applied',
        count: 5,
        runId: 'run-2',
        raisedAt: t('2026-12-08T02:31:00.000Z'),
      });
      expect(again).toEqual({ ...raised, count: 5, runId: 'run-2' });
      const other = await store.reconcile.raiseFlag({
        reconciliation: rec,
        entity: 'results',
        class: 'dead_lettered',
        count: 1,
        runId: 'run-2',
        raisedAt: t('2026-12-08T02:31:00.000Z'),
      });
      expect(other.id).not.toBe(raised.id);
      const open = (await store.reconcile.listFlags({ open: true })).filter((f) => f.reconciliation === rec);
      expect(open.map((f) => f.id).sort()).toEqual([raised.id, other.id].sort());

      const acknowledged = await store.reconcile.acknowledgeFlag(
        raised.id,
        'user:alice',
        t('2026-12-08T08:00:00.000Z'),
        'EHR interface restarted',
      );
      expect(acknowledged).toEqual({
        ...again,
        acknowledgedAt: t('2026-12-08T08:00:00.000Z'),
        acknowledgedBy: 'user:alice',
        note: 'EHR interface restarted',
      });
      // A second acknowledgement changes nothing.
      expect(await store.reconcile.acknowledgeFlag(raised.id, 'user:bob', new Date())).toEqual(acknowledged);
      expect(await store.reconcile.acknowledgeFlag(randomUUID(), 'user:bob', new Date())).toBeUndefined();
      expect(
        (await store.reconcile.listFlags({ open: true })).filter((f) => f.reconciliation === rec),
      ).toEqual([other]);
      expect(
        (await store.reconcile.listFlags({ open: false })).filter((f) => f.reconciliation === rec),
      ).toEqual([acknowledged]);

      // Found again after the acknowledgement: a new flag.
      const next = await store.reconcile.raiseFlag({
        reconciliation: rec,
        entity: 'results',
        class: 'delivered_not_applied',
        count: 1,
        runId: 'run-3',
        raisedAt: t('2026-12-09T02:31:00.000Z'),
      });
      expect(next.id).not.toBe(raised.id);
      expect((await store.reconcile.listFlags({})).filter((f) => f.reconciliation === rec)).toHaveLength(3);
    });
  });

  describe('reconcile: retention', () => {
    it('deletes runs finished before the limit with their discrepancies, keeping newer and running ones', async () => {
      const rec = name();
      const make = async (startedAt: string, finishedAt?: string) => {
        const run = await store.reconcile.createRun({
          reconciliation: rec,
          trigger: 'schedule',
          periodLabel: 'yesterday',
          startedAt: t(startedAt),
        });
        await store.reconcile.addDiscrepancies(run.id, [discrepancy(1), discrepancy(2)]);
        if (finishedAt)
          await store.reconcile.finishRun(run.id, {
            status: 'discrepancies',
            finishedAt: t(finishedAt),
            summary,
          });
        return run;
      };
      const old = await make('2026-01-01T02:30:00.000Z', '2026-01-01T02:31:00.000Z');
      const stuck = await make('2026-01-02T02:30:00.000Z');
      const recent = await make('2026-12-01T02:30:00.000Z', '2026-12-01T02:31:00.000Z');

      expect(await store.reconcile.deleteRunsBefore(t('2026-06-01T00:00:00.000Z'))).toBe(1);
      expect(await store.reconcile.getRun(old.id)).toBeUndefined();
      expect(await store.reconcile.listDiscrepancies(old.id, {})).toEqual([]);
      expect((await store.reconcile.listRuns({ reconciliation: rec })).map((r) => r.id)).toEqual([
        recent.id,
        stuck.id,
      ]);
      expect(await store.reconcile.listDiscrepancies(recent.id, {})).toHaveLength(2);
      expect(await store.reconcile.listDiscrepancies(stuck.id, {})).toHaveLength(2);
    });

    it('keeps the latest schedule claim of each reconciliation however old', async () => {
      const rec = name();
      await store.reconcile.claimSchedule(rec, t('2026-01-01T02:30:00.000Z'), 'a');
      await store.reconcile.claimSchedule(rec, t('2026-01-02T02:30:00.000Z'), 'a');
      await store.reconcile.deleteRunsBefore(t('2026-06-01T00:00:00.000Z'));
      expect(await store.reconcile.lastClaimed(rec)).toEqual(t('2026-01-02T02:30:00.000Z'));
      expect(await store.reconcile.claimSchedule(rec, t('2026-01-02T02:30:00.000Z'), 'b')).toBe(false);
      expect(await store.reconcile.claimSchedule(rec, t('2026-01-01T02:30:00.000Z'), 'b')).toBe(true);
    });
  });
}
