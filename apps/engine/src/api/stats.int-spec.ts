import { AccessService, type Scope } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore, type Store } from '@sinew/store';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../../test/support/engine-process';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig, type EngineConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(60_000);

function oru(controlId: string): Hl7Message {
  return Hl7Message.parse(
    [
      `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|${controlId}|P|2.5.1`,
      'PID|1||MRN-STATS-1^^^NORTH^MR||DOE^JANE||19700101|F',
      'OBX|1|NM|GLU^Glucose||5.4|mmol/L|||||F',
      '',
    ].join('\r'),
  );
}

interface Stats {
  channel: string;
  since: string;
  until: string;
  hours: Array<{ hour: string; received: number; sent: number; dead_lettered: number; filtered: number }>;
  totals: Record<string, number>;
  queued: { total: number; by_status: Record<string, number> };
  ack_latency_ms: { count: number; p50?: number; p95?: number; p99?: number };
  end_to_end_latency_ms: { count: number; p50?: number; p95?: number; p99?: number };
}

describe('GET /api/v1/channels/{id}/stats: statistics from the ledger', () => {
  let dir: string;
  let config: EngineConfig;
  let running: RunningEngine;
  let store: Store;
  let access: AccessService;
  let mllpPort: number;

  const base = () => `http://127.0.0.1:${running.httpPort}`;
  const get = async (path: string, scopes: Scope[], channels?: string[]) => {
    const k = await access.createKey({ name: 'stats', scopes, ...(channels ? { channels } : {}) });
    return fetch(`${base()}${path}`, { headers: { authorization: `Bearer ${k.secret}` } });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-stats-'));
    mkdirSync(join(dir, 'channels'));
    mllpPort = await freePort();
    writeFileSync(
      join(dir, 'channels', 'lab.yaml'),
      `id: lab
source: { type: mllp, listen: ${mllpPort} }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, 'out')}
  - name: ehr
    type: http
    url: http://127.0.0.1:9/fhir
    retry: { attempts: 1 }
`,
    );
    config = loadConfig({
      SINEW_CHANNELS_DIR: join(dir, 'channels'),
      SINEW_DATA_DIR: join(dir, 'data'),
      SINEW_HTTP_PORT: '0',
      SINEW_PIPELINE_THREADS: '0',
      SINEW_API_RATE_LIMIT: '100000',
    });
    running = await startEngine(config, createLogger('warn', { write: () => undefined }));
    store = await openStore({ dataDir: join(dir, 'data') });
    access = new AccessService(store);
  });

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts received, filtered, sent and dead-lettered per hour, the queue, and latency percentiles; the same after a restart', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port: mllpPort });
    for (const id of ['S-1', 'S-2', 'S-3']) expect((await client.send(oru(id))).code).toBe('AA');
    await client.close();
    // Three messages: each sent to the archive, dead-lettered at the EHR (nothing listens on port 9).
    await waitFor(
      'three messages delivered or failed',
      async () => (await store.searchMessages({ channelId: 'lab', status: 'failed' })).length === 3,
      20_000,
      50,
    );

    const res = await get('/api/v1/channels/lab/stats', ['channels:read']);
    expect(res.status).toBe(200);
    const stats = (await res.json()) as Stats;
    expect(stats.channel).toBe('lab');
    // The last 7 days, hour by hour (the first hour partly inside the window).
    expect(Date.parse(stats.until) - Date.parse(stats.since)).toBe(7 * 24 * 3600_000);
    expect(stats.hours.length).toBeGreaterThanOrEqual(168);
    expect(stats.hours.length).toBeLessThanOrEqual(169);
    expect(stats.totals).toEqual({
      received: 3,
      filtered: 0,
      rejected: 0,
      errored: 0,
      sent: 3,
      dead_lettered: 3,
    });
    const busy = stats.hours.filter((h) => h.received > 0);
    expect(busy.reduce((a, h) => a + h.received, 0)).toBe(3);
    expect(new Date(busy[0]!.hour).getUTCMinutes()).toBe(0);
    expect(stats.queued).toEqual({ total: 0, by_status: {} });
    expect(stats.ack_latency_ms.count).toBe(3);
    expect(stats.ack_latency_ms.p50).toBeGreaterThan(0);
    expect(stats.ack_latency_ms.p99).toBeGreaterThanOrEqual(stats.ack_latency_ms.p50!);
    expect(stats.ack_latency_ms.p99).toBeLessThan(5_000);
    expect(stats.end_to_end_latency_ms.count).toBe(3);
    expect(stats.end_to_end_latency_ms.p95).toBeGreaterThanOrEqual(stats.end_to_end_latency_ms.p50!);

    // Read from the ledger: a restarted engine answers the same.
    await running.stop();
    running = await startEngine(config, createLogger('warn', { write: () => undefined }));
    const again = (await (await get('/api/v1/channels/lab/stats', ['channels:read'])).json()) as Stats;
    expect(again.totals).toEqual(stats.totals);
    expect(again.ack_latency_ms).toEqual(stats.ack_latency_ms);
    expect(again.end_to_end_latency_ms).toEqual(stats.end_to_end_latency_ms);
  });

  it('takes a window of at most 31 days, and hides channels the caller may not see', async () => {
    const hour = await get(
      '/api/v1/channels/lab/stats?since=2026-01-01T00:00:00Z&until=2026-01-01T03:00:00Z',
      ['channels:read'],
    );
    expect(hour.status).toBe(200);
    const body = (await hour.json()) as Stats;
    expect(body.hours.map((h) => h.hour)).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T01:00:00.000Z',
      '2026-01-01T02:00:00.000Z',
    ]);
    expect(body.totals.received).toBe(0);

    const long = await get(
      '/api/v1/channels/lab/stats?since=2026-01-01T00:00:00Z&until=2026-02-02T00:00:00Z',
      ['channels:read'],
    );
    expect(long.status).toBe(400);
    expect(((await long.json()) as { invalid_params: Array<{ name: string }> }).invalid_params[0]!.name).toBe(
      'query.since',
    );
    const backwards = await get(
      '/api/v1/channels/lab/stats?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z',
      ['channels:read'],
    );
    expect(backwards.status).toBe(400);
    expect((await get('/api/v1/channels/lab/stats?colour=red', ['channels:read'])).status).toBe(400);
    expect((await get('/api/v1/channels/lab/stats', ['channels:read'], ['other'])).status).toBe(404);
    expect((await get('/api/v1/channels/lab/stats', ['messages:read'])).status).toBe(403);
  });
});
