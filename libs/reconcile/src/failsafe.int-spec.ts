import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { createLogger, Engine } from '@sinew/engine';
import { TransformerLibrary } from '@sinew/mapping';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { engineChannelControl, FailSafe, ledgerChannelControl, type FailSafeDeclaration } from './failsafe';
import type { RunRecord, RunSummary } from './types';

const registries = builtInRegistries(TransformerLibrary.load());
const channelYaml = (id: string) => `
id: ${id}
source: { type: mllp, listen: 0 }
destinations:
  - name: ehr
    type: http
    url: http://127.0.0.1:9/fhir
`;

function run(id: string, reconciliation: string, summary: RunSummary | undefined): RunRecord {
  return {
    id,
    reconciliation,
    status: 'discrepancies',
    trigger: 'schedule',
    periodLabel: 'yesterday',
    startedAt: new Date('2026-12-07T07:30:00.000Z'),
    finishedAt: new Date('2026-12-07T07:31:00.000Z'),
    ...(summary ? { summary } : {}),
  };
}

const found = (entities: Array<[string, Record<string, number>]>): RunSummary => ({
  entities: entities.map(([name, byClass]) => ({
    name,
    counts: { source: {}, target: {} },
    matched: 0,
    byKind: {},
    byClass,
  })),
  discrepancies: entities.reduce((n, [, c]) => n + Object.values(c).reduce((a, b) => a + b, 0), 0),
  alerts: [],
});

describe('the fail-safe: sync-error flags, /ready and paused channels', () => {
  let dir: string;
  let store: TypeOrmStore;
  let engine: Engine;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-failsafe-'));
    store = await openStore({ dataDir: dir });
    engine = new Engine({
      channels: ['lab-results', 'adt', 'orders'].map((id) =>
        compileChannelOrThrow(channelYaml(id), `${id}.yaml`, registries),
      ),
      store,
      queue: new MemoryQueueDriver(),
      transformers: TransformerLibrary.load(),
      logger: createLogger('silent'),
      roles: ['sources'],
    });
    await engine.start();
  });
  afterAll(async () => {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const declaration: FailSafeDeclaration = {
    id: 'demo',
    critical: { results: ['delivered_not_applied'], patients: ['dead_lettered'] },
    pauseChannels: ['lab-results', 'orders'],
  };

  it('raises flags for critical classes found, shows them in /ready without making it unready, pauses and resumes', async () => {
    const failSafe = new FailSafe({ store: store.reconcile, channels: engineChannelControl(engine, store) });
    expect((await engine.readiness()).checks.sync).toBe('ok');
    // An operator paused `orders` before: the fail-safe leaves it to them.
    await engine.pauseChannel('orders', 'user:nightshift');

    // Nothing critical: no flag, nothing paused.
    expect(
      await failSafe.afterRun(declaration, run('r0', 'demo', found([['results', { never_received: 2 }]]))),
    ).toEqual([]);
    expect(engine.isPaused('lab-results')).toBe(false);

    const flags = await failSafe.afterRun(
      declaration,
      run(
        'r1',
        'demo',
        found([
          ['results', { delivered_not_applied: 3, never_received: 1 }],
          ['patients', { dead_lettered: 1 }],
          ['visits', { delivered_not_applied: 5 }],
        ]),
      ),
    );
    expect(flags.map((f) => [f.entity, f.class, f.count, f.runId])).toEqual([
      ['results', 'delivered_not_applied', 3, 'r1'],
      ['patients', 'dead_lettered', 1, 'r1'],
    ]);
    expect(engine.isPaused('lab-results')).toBe(true);
    expect(engine.isPaused('adt')).toBe(false);
    expect(await store.listPausedChannels()).toEqual([
      { channelId: 'lab-results', pausedAt: expect.any(Date), pausedBy: 'reconcile:demo' },
      { channelId: 'orders', pausedAt: expect.any(Date), pausedBy: 'user:nightshift' },
    ]);

    const ready = await engine.readiness();
    expect(ready.ready).toBe(true);
    expect(ready.checks.sync).toMatch(/^2 open sync-error flags: /);
    expect(ready.checks.sync).toContain('demo/results delivered_not_applied (3)');
    expect(ready.checks.sync).toContain('demo/patients dead_lettered (1)');
    expect(await failSafe.status()).toMatchObject({ ok: false, flags: expect.any(Array) });

    // Found again by the next run: the same flag, moved to that run.
    const again = await failSafe.afterRun(
      declaration,
      run('r2', 'demo', found([['results', { delivered_not_applied: 4 }]])),
    );
    expect(again.map((f) => [f.id, f.count, f.runId])).toEqual([[flags[0]!.id, 4, 'r2']]);

    // The first acknowledgement leaves the other flag open: still paused.
    expect(await failSafe.acknowledge(flags[0]!.id, 'user:alice', 'EHR feed restarted')).toMatchObject({
      acknowledgedBy: 'user:alice',
      note: 'EHR feed restarted',
    });
    expect(engine.isPaused('lab-results')).toBe(true);
    expect((await engine.readiness()).checks.sync).toBe(
      '1 open sync-error flag: demo/patients dead_lettered (1)',
    );

    // The last one resumes what the reconciliation paused, and only that.
    await failSafe.acknowledge(flags[1]!.id, 'user:alice');
    expect(engine.isPaused('lab-results')).toBe(false);
    expect(engine.isPaused('orders')).toBe(true);
    expect((await store.listPausedChannels()).map((p) => p.channelId)).toEqual(['orders']);
    expect((await engine.readiness()).checks.sync).toBe('ok');
    expect(await failSafe.status()).toEqual({ ok: true, flags: [] });
    expect(await failSafe.acknowledge('no-such-flag', 'user:alice')).toBeUndefined();
    await engine.resumeChannel('orders', 'user:nightshift');
  });

  it('resumes on its own last flag whatever other reconciliations hold open, through the ledger alone', async () => {
    const failSafe = new FailSafe({ store: store.reconcile, channels: ledgerChannelControl(store) });
    const declared: FailSafeDeclaration = {
      id: 'nightly',
      critical: { results: ['dead_lettered'] },
      pauseChannels: ['adt'],
    };
    const [flag] = await failSafe.afterRun(
      declared,
      run('n1', 'nightly', found([['results', { dead_lettered: 2 }]])),
    );
    expect(await store.listPausedChannels()).toEqual([
      { channelId: 'adt', pausedAt: expect.any(Date), pausedBy: 'reconcile:nightly' },
    ]);
    // Another reconciliation's flag does not keep this one's channels paused.
    const [other] = await new FailSafe({
      store: store.reconcile,
      channels: ledgerChannelControl(store),
    }).afterRun(
      { id: 'weekly', critical: { claims: ['never_received'] }, pauseChannels: [] },
      run('w1', 'weekly', found([['claims', { never_received: 1 }]])),
    );
    await failSafe.acknowledge(flag!.id, 'user:bob');
    expect(await store.listPausedChannels()).toEqual([]);
    await failSafe.acknowledge(other!.id, 'user:bob');
  });
});
