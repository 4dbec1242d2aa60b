import { AccessService, type Scope } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { verifyWebhook } from '@sinew/reconcile';
import { openStore, type Store } from '@sinew/store';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../../test/support/engine-process';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(90_000);

// Answers are read loosely and checked by the expectations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

const SECRET = 'whsec_' + Buffer.from('a reconciliation alert secret').toString('base64');

function adt(controlId: string, mrn: string, family: string): Hl7Message {
  return Hl7Message.parse(
    [
      `MSH|^~\\&|PMS|CLINIC|EHR|CLINIC|20261201100000||ADT^A04|${controlId}|P|2.5.1`,
      `PID|1||${mrn}^^^PMS^MR||${family}^JANE||19700101|F`,
      '',
    ].join('\r'),
  );
}

describe('reconciliations through the admin API: runs, discrepancies, repair, alerts and the sync-error flag', () => {
  let dir: string;
  let running: RunningEngine;
  let store: Store;
  let access: AccessService;
  let adtPort: number;
  let peer: Server;
  /** The PMS's patients, as its REST API lists them. */
  const pmsPatients = [
    { mrn: 'MRN-1', family: 'Doe' },
    { mrn: 'MRN-2', family: 'Roe' },
  ];
  const alerts: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const base = () => `http://127.0.0.1:${running.httpPort}`;

  const keyFor = async (scopes: Scope[]) =>
    (await access.createKey({ name: `k-${scopes.join('+')}`, scopes })).secret;
  const call = async (method: 'GET' | 'POST', path: string, token: string, body?: unknown) =>
    fetch(`${base()}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const json = async (method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<Body> => {
    const res = await call(method, path, token, body);
    expect([path, res.status]).toEqual([path, method === 'POST' && path.endsWith('/runs') ? 202 : 200]);
    return res.json();
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-recon-api-'));
    mkdirSync(join(dir, 'channels'));
    mkdirSync(join(dir, 'reconciliations'));
    peer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/api/patients') {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ items: pmsPatients }));
          return;
        }
        if (req.url === '/alerts')
          alerts.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const peerPort = (peer.address() as { port: number }).port;
    adtPort = await freePort();
    writeFileSync(
      join(dir, 'channels', 'adt.yaml'),
      `id: adt
source: { type: mllp, listen: ${adtPort} }
keys: { mrn: PID-3.1 }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, 'out')}
`,
    );
    // The "EHR" is a CSV export here: it holds MRN-1 with another family name, and MRN-9.
    writeFileSync(join(dir, 'reconciliations', 'ehr.csv'), 'MRN,Family\nMRN-1,Dough\nMRN-9,Stray\n');
    writeFileSync(
      join(dir, 'reconciliations', 'clinic.yaml'),
      `id: clinic
description: PMS patients against the EHR's export
schedule: { cron: '0 3 * * *', timezone: Europe/London }
period: all
systems:
  pms: { type: http_json, base_url: 'http://127.0.0.1:${peerPort}' }
  ehr: { type: csv, dir: . }
entities:
  - name: patients
    identity: mrn
    ledger: { channels: [adt], key: mrn }
    fields:
      family: { normalise: [trim, upper] }
    source: { system: pms, path: /api/patients, items: $.items, key: $.mrn, fields: { family: $.family } }
    target: { system: ehr, file: ehr.csv, key: MRN, fields: { family: Family } }
    alerts: { never_received: 1 }
    critical: [never_received]
alerts:
  webhook: { url: 'http://127.0.0.1:${peerPort}/alerts', secret: '${SECRET}' }
fail_safe:
  pause_channels: [adt]
`,
    );
    const config = loadConfig({
      SINEW_CHANNELS_DIR: join(dir, 'channels'),
      SINEW_RECONCILIATIONS_DIR: join(dir, 'reconciliations'),
      SINEW_DATA_DIR: join(dir, 'data'),
      SINEW_HTTP_PORT: '0',
      SINEW_PIPELINE_THREADS: '0',
      SINEW_API_RATE_LIMIT: '100000',
      SINEW_SWEEP_INTERVAL_MS: '200',
    });
    running = await startEngine(config, createLogger('warn', { write: () => undefined }));
    store = await openStore({ dataDir: join(dir, 'data') });
    access = new AccessService(store);
  });

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    await new Promise((resolve) => peer?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs, explains each difference with the ledger, hides values without phi:read, alerts, flags and pauses until acknowledged', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port: adtPort });
    try {
      expect((await client.send(adt('A-1', 'MRN-1', 'DOE'))).code).toBe('AA');
    } finally {
      await client.close();
    }
    await waitFor(
      'the ADT delivered',
      async () => (await store.searchMessages({ channelId: 'adt' }))[0]?.status === 'delivered' || undefined,
      20_000,
      100,
    );
    const [message] = await store.searchMessages({ channelId: 'adt' });

    const operator = await keyFor(['reconciliations:run', 'messages:replay']);
    const engineer = await keyFor(['reconciliations:read', 'phi:read']);
    const nobody = await keyFor(['channels:read']);

    expect((await call('GET', '/api/v1/reconciliations', nobody)).status).toBe(403);
    const list = await json('GET', '/api/v1/reconciliations', operator);
    expect(list.items).toEqual([
      {
        id: 'clinic',
        description: "PMS patients against the EHR's export",
        schedule: { cron: '0 3 * * *', timezone: 'Europe/London', next: expect.any(String) },
        period: 'all',
        entities: ['patients'],
        flags: [],
      },
    ]);
    expect((await call('POST', '/api/v1/reconciliations/nope/runs', operator, {})).status).toBe(404);
    expect(
      (await call('POST', '/api/v1/reconciliations/clinic/runs', operator, { period: 'someday' })).status,
    ).toBe(400);

    const started = await json('POST', '/api/v1/reconciliations/clinic/runs', operator, {});
    expect(started).toMatchObject({ reconciliation: 'clinic', status: 'running', trigger: 'api' });
    const run = await waitFor(
      'the run finished',
      async () => {
        const r = await json('GET', `/api/v1/reconciliations/runs/${started.id}`, operator);
        return r.status === 'running' ? undefined : r;
      },
      20_000,
      100,
    );
    expect(run).toMatchObject({
      status: 'discrepancies',
      period: { label: 'all' },
      summary: {
        discrepancies: 3,
        alerts: ['patients.never_received >= 1'],
        entities: [
          {
            name: 'patients',
            counts: { source: { '': 2 }, ledger: 1, target: { '': 2 } },
            matched: 0,
            byKind: { field_mismatch: 1, missing_in_target: 1, missing_in_source: 1 },
            byClass: { delivered_not_applied: 1, never_received: 1, target_only: 1 },
          },
        ],
      },
    });

    const masked = await json('GET', `/api/v1/reconciliations/runs/${run.id}/discrepancies`, operator);
    expect(masked.items.map((d: Body) => [d.kind, d.class, d.key, d.messageIds])).toEqual([
      ['field_mismatch', 'delivered_not_applied', '…', [message?.id]],
      ['missing_in_target', 'never_received', '…', []],
      ['missing_in_source', 'target_only', '…', []],
    ]);
    expect(masked.items[0].fields).toEqual([{ field: 'family' }]);
    expect(JSON.stringify(masked)).not.toMatch(/MRN-|Dough|Roe|Stray/);

    const open = await json(
      'GET',
      `/api/v1/reconciliations/runs/${run.id}/discrepancies?class=delivered_not_applied`,
      engineer,
    );
    expect(open.items).toEqual([
      expect.objectContaining({
        key: 'MRN-1',
        fields: [
          {
            field: 'family',
            source: 'Doe',
            target: 'Dough',
            sourceNormalised: 'DOE',
            targetNormalised: 'DOUGH',
          },
        ],
      }),
    ]);

    // The never_received class is critical: the flag is raised, /ready shows it, the channel is paused.
    const status = await json('GET', '/api/v1/sync-status', engineer);
    expect(status).toEqual({
      ok: false,
      flags: [
        expect.objectContaining({
          reconciliation: 'clinic',
          entity: 'patients',
          class: 'never_received',
          count: 1,
          runId: run.id,
        }),
      ],
    });
    const ready = (await (await fetch(`${base()}/ready`)).json()) as Body;
    expect(ready.checks.sync).toMatch(/^1 open sync-error flag: clinic\/patients never_received \(1\)/);
    expect(running.engine.isPaused('adt')).toBe(true);

    // The alert arrived signed.
    const alert = await waitFor('the alert webhook', async () => alerts[0], 20_000, 100);
    expect(verifyWebhook(SECRET, alert.headers, alert.body)).toMatchObject({ ok: true });
    expect(JSON.parse(alert.body)).toMatchObject({
      type: 'reconciliation.alert',
      reconciliation: 'clinic',
      runId: run.id,
      alerts: ['patients.never_received >= 1'],
    });

    // Repair: a dry run first, then the delivery the target did not apply is sent again.
    const dry = await json('POST', `/api/v1/reconciliations/runs/${run.id}/repair`, operator, {});
    expect(dry).toEqual({
      dryRun: true,
      actions: [
        expect.objectContaining({
          class: 'delivered_not_applied',
          action: 'replayed',
          deliveryIds: [`${message?.id}.archive`],
        }),
      ],
    });
    expect((await store.getDelivery(`${message?.id}.archive`))?.attempts).toBe(1);
    const repaired = await json('POST', `/api/v1/reconciliations/runs/${run.id}/repair`, operator, {
      dryRun: false,
    });
    expect(repaired.actions).toHaveLength(1);
    const after = await json(
      'GET',
      `/api/v1/reconciliations/runs/${run.id}/discrepancies?class=delivered_not_applied`,
      engineer,
    );
    expect(after.items[0]).toMatchObject({ repairedAt: expect.any(String), repair: { action: 'replayed' } });
    const refused = await call('POST', `/api/v1/reconciliations/runs/${run.id}/repair`, operator, {
      classes: ['never_received'],
    });
    expect(refused.status).toBe(400);

    // Acknowledging the flag resumes the channel the fail-safe paused.
    const flagId = status.flags[0].id as string;
    expect((await call('POST', `/api/v1/sync-status/flags/${flagId}/acknowledge`, engineer, {})).status).toBe(
      403,
    );
    const acked = await json('POST', `/api/v1/sync-status/flags/${flagId}/acknowledge`, operator, {
      note: 'sent by hand',
    });
    expect(acked).toMatchObject({
      id: flagId,
      acknowledgedBy: expect.stringContaining('key:'),
      note: 'sent by hand',
    });
    expect(await json('GET', '/api/v1/sync-status', engineer)).toEqual({ ok: true, flags: [] });
    expect(running.engine.isPaused('adt')).toBe(false);

    // The channel was paused: the delivery sent again waited for it to resume.
    await waitFor(
      'the delivery sent again',
      async () => {
        const d = await store.getDelivery(`${message?.id}.archive`);
        return d?.status === 'sent' && d.attempts === 2 ? d : undefined;
      },
      20_000,
      100,
    );
    const runs = await json('GET', '/api/v1/reconciliations/clinic/runs', engineer);
    expect(runs.items.map((r: Body) => r.id)).toEqual([run.id]);
  });
});
