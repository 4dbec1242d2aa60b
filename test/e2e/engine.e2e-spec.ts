import Database from 'better-sqlite3';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEhr, startPms, type EhrStandin, type PmsStandin } from '../../apps/standins/src';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore, type Store } from '@sinew/store';
import {
  freePort,
  mllpExchange,
  ROOT,
  startEngineProcess,
  type EngineProcess,
} from '../support/engine-process';
import { mllpSendPeer, runMllpSend } from '../support/peers';
import { withTestSchema, type TestSchema } from '../support/postgres';
import { flushPrefix, redisUrl, uniquePrefix } from '../support/redis';
import { sleep, waitFor } from '../support/wait';

jest.setTimeout(90_000);

const SAMPLE = readFileSync(join(ROOT, 'channels/samples/oru-r01.hl7'), 'latin1');
const CORPUS_ORU = join(ROOT, 'transformers/fixtures/fhir-converter/ORU-R01-01.hl7');

/** The demo lab result with its own control id and patient (MRN and surname). */
function oru(controlId: string, mrn = 'MRN-000123', surname = 'TESTPATIENT'): string {
  return SAMPLE.replace('DEMO-ORU-0001', controlId)
    .replace('MRN-000123', mrn)
    .replace('TESTPATIENT', surname);
}

function channelYaml(port: number, ehr: string, pms: string): string {
  return `
id: lab
source: { type: mllp, listen: ${port}, max_message_bytes: 65536 }
keys: { mrn: PID-3.1 }
pipeline:
  - map: { transformer: oru-to-fhir }
destinations:
  - name: ehr
    type: fhir
    base_url: ${ehr}
    mode: transaction
    ordering: PID-3.1
    retry: { attempts: 4, initial_delay_ms: 200, multiplier: 2, max_delay_ms: 1000, jitter: 0 }
  - name: pms
    type: http
    url: ${pms}/api/notices
    transformer: oru-to-pms-results-ready
    retry: { attempts: 50, initial_delay_ms: 200, max_delay_ms: 1000 }
`;
}

interface Mode {
  name: string;
  /** Environment for the engine, and a store on the same ledger for assertions. */
  setUp(
    dataDir: string,
  ): Promise<{ env: NodeJS.ProcessEnv; openLedger(): Promise<Store>; tearDown(): Promise<void> }>;
}

const embedded: Mode = {
  name: 'embedded (SQLite + in-process queue)',
  setUp: async (dataDir) => ({
    env: {},
    openLedger: () => openStore({ dataDir }),
    tearDown: async () => undefined,
  }),
};

const scaled: Mode = {
  name: 'scale-out (PostgreSQL + BullMQ on Redis)',
  setUp: async () => {
    const schema: TestSchema = await withTestSchema();
    const redis = await redisUrl();
    const prefix = uniquePrefix('e2e');
    return {
      env: {
        DATABASE_URL: schema.url,
        DATABASE_SCHEMA: schema.schema,
        REDIS_URL: redis,
        SINEW_REDIS_PREFIX: prefix,
      },
      openLedger: () => openStore({ databaseUrl: schema.url, schema: schema.schema }),
      tearDown: async () => {
        await flushPrefix(redis, prefix);
        await schema.drop();
      },
    };
  },
};

/** Sends messages over one MLLP connection, one at a time; returns each ACK code. */
async function sendAll(port: number, messages: string[]): Promise<string[]> {
  const client = new MllpClient({ host: '127.0.0.1', port, ackTimeoutMs: 15_000 });
  try {
    const codes: string[] = [];
    for (const m of messages) codes.push((await client.send(Hl7Message.parse(m.replace(/\n/g, '\r')))).code);
    return codes;
  } finally {
    await client.close();
  }
}

function runSinew(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      ['bin/sinew.js', ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 30_000 },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

describe.each([embedded, scaled])('sinew start, $name', (mode) => {
  let dir: string;
  let ehr: EhrStandin;
  let pms: PmsStandin;
  let mllpPort: number;
  let env: NodeJS.ProcessEnv;
  let ledger: Store;
  let tearDown: () => Promise<void>;
  let engine: EngineProcess | undefined;
  const logs: string[] = [];

  beforeAll(async () => {
    ehr = await startEhr();
    pms = await startPms();
  });
  afterAll(async () => {
    await ehr.stop();
    await pms.stop();
    // No patient data in any log line of any engine run.
    const all = logs.join('\n');
    expect(all.length).toBeGreaterThan(0);
    for (const phi of [
      'TESTPATIENT',
      'ALICE',
      'MRN-000123',
      '19800214',
      'PAT-A',
      'PAT-B',
      'Huckleberry',
      'Finn',
    ]) {
      expect(all).not.toContain(phi);
    }
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-e2e-'));
    mkdirSync(join(dir, 'channels'));
    mkdirSync(join(dir, 'data'));
    mllpPort = await freePort();
    writeFileSync(join(dir, 'channels', 'lab.yaml'), channelYaml(mllpPort, ehr.url, pms.url));
    ehr.reset();
    pms.reset();
    const m = await mode.setUp(join(dir, 'data'));
    env = m.env;
    tearDown = m.tearDown;
    ledger = await m.openLedger();
  });
  afterEach(async () => {
    if (engine) {
      await engine.kill();
      logs.push(engine.stdout, engine.stderr);
      engine = undefined;
    }
    await ledger.close();
    await tearDown();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (extra: NodeJS.ProcessEnv = {}, roles?: string) => {
    const p = await startEngineProcess({
      channelsDir: join(dir, 'channels'),
      dataDir: join(dir, 'data'),
      env: { ...env, ...extra },
      ...(roles ? { roles } : {}),
    });
    return p;
  };
  const stopEngine = async () => {
    const code = await engine?.stop();
    if (engine) logs.push(engine.stdout, engine.stderr);
    engine = undefined;
    return code;
  };

  it('delivers what mllp_send and sinew send send: ACKs, ledger rows, EHR resources, PMS notices', async () => {
    engine = await start();
    const file = join(dir, 'two.hl7');
    writeFileSync(file, [oru('E2E-1'), readFileSync(CORPUS_ORU, 'latin1')].join('\r'));
    if (mllpSendPeer.available || process.env.CI === 'true') {
      const sent = await runMllpSend(file, mllpPort);
      expect(sent.status).toBe(0);
      expect(sent.stdout.toString('latin1').match(/MSA\|AA/g)).toHaveLength(2);
    } else {
      expect(await sendAll(mllpPort, [oru('E2E-1'), readFileSync(CORPUS_ORU, 'latin1')])).toEqual([
        'AA',
        'AA',
      ]);
    }
    const cli = join(dir, 'three.hl7');
    writeFileSync(cli, oru('E2E-2', 'MRN-777', 'OTHER'));
    const r = await runSinew(['send', '--port', String(mllpPort), cli], {});
    expect(r.code).toBe(0);
    expect(r.stdout.split('\t')[3]).toBe('AA');

    const rows = await ledger.searchMessages({ channelId: 'lab' });
    expect(rows.map((m) => m.controlId).sort()).toEqual(['E2E-1', 'E2E-2', expect.any(String)].sort());
    expect(await ledger.searchMessages({ key: { name: 'mrn', value: 'MRN-777' } })).toHaveLength(1);
    await waitFor(
      'every message delivered',
      async () => {
        const all = await ledger.searchMessages({ channelId: 'lab' });
        return all.length === 3 && all.every((m) => m.status === 'delivered');
      },
      20_000,
      50,
    );
    const search = (await (await fetch(`${ehr.url}/Patient?identifier=MRN-000123`)).json()) as {
      entry?: unknown[];
    };
    expect(search.entry).toHaveLength(1);
    const reports = (await (await fetch(`${ehr.url}/DiagnosticReport?_summary=count`)).json()) as {
      total?: number;
    };
    // E2E-1 and E2E-2 report the same lab order (OBR-3): the second updates the first's report.
    expect(reports.total).toBeGreaterThanOrEqual(2);
    expect(pms.notices.map((n) => n.body.messageControlId).sort()).toEqual(
      expect.arrayContaining(['E2E-1', 'E2E-2']),
    );
    const metrics = await (await fetch(`http://127.0.0.1:${engine.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/sinew_messages_received_total\{channel="lab"\} 3/);
    expect(metrics).toMatch(/sinew_deliveries_sent_total\{channel="lab",destination="ehr"\} 3/);
    expect(await stopEngine()).toBe(0);
  });

  it('answers a duplicate with the original ACK, malformed input with AE and oversized input with AR', async () => {
    engine = await start();
    const client = new MllpClient({ host: '127.0.0.1', port: mllpPort });
    try {
      const first = await client.send(Hl7Message.parse(oru('DUP-1').replace(/\n/g, '\r')));
      const again = await client.send(Hl7Message.parse(oru('DUP-1').replace(/\n/g, '\r')));
      expect(first.code).toBe('AA');
      expect(again.ack?.toString()).toBe(first.ack?.toString());
      const bad = Hl7Message.parse(await mllpExchange(mllpPort, Buffer.from('PID|1||not a message\r')));
      expect(bad.get('MSA-1')).toBe('AE');
      expect(bad.get('ERR-8')).toMatch(/MSH/);
    } finally {
      await client.close();
    }
    const big = new MllpClient({ host: '127.0.0.1', port: mllpPort });
    try {
      const huge = oru('BIG-1').replace('Above the reference range', 'x'.repeat(100_000));
      const r = await big.send(Hl7Message.parse(huge.replace(/\n/g, '\r')));
      expect(r.code).toBe('AR');
    } finally {
      await big.close();
    }
    const rows = await ledger.searchMessages({ channelId: 'lab' });
    expect(rows).toHaveLength(1);
    expect(rows[0]?.duplicateCount).toBe(1);
  });

  it('the shipped pms-adt channel refuses an ADT without PID-3.1 and PID-5.1 with a negative ACK, delivering nothing', async () => {
    const adtPort = await freePort();
    copyFileSync(join(ROOT, 'channels', 'pms-adt.yaml'), join(dir, 'channels', 'pms-adt.yaml'));
    engine = await start({ PMS_ADT_MLLP_PORT: String(adtPort), EHR_URL: ehr.url });
    const header = 'MSH|^~\\&|PMS|CLINIC|EHR|CLINIC|20260315083000||ADT^A01^ADT_A01|ADT-EMPTY|P|2.5.1\r';
    const refused = Hl7Message.parse(
      await mllpExchange(adtPort, Buffer.from(`${header}EVN|A01|20260315083000\rPID|1\rPV1|1|I\r`)),
    );
    expect(refused.get('MSA-1')).toBe('AE');
    expect(refused.get('MSA-2')).toBe('ADT-EMPTY');
    expect(refused.get('ERR-8')).toContain('adt.mrn');
    // The sample admission passes, so the EHR is reachable and the refusal is the rule's.
    expect(
      await sendAll(adtPort, [readFileSync(join(ROOT, 'channels/samples/adt-a01.hl7'), 'latin1')]),
    ).toEqual(['AA']);
    await waitFor(
      'the sample admission delivered',
      async () => (await ledger.searchMessages({ channelId: 'pms-adt', status: 'delivered' })).length === 1,
      20_000,
      50,
    );
    const [empty] = await ledger.searchMessages({ channelId: 'pms-adt', status: 'rejected' });
    expect(empty?.controlId).toBe('ADT-EMPTY');
    expect(empty?.issues.map((i) => i.code)).toEqual(['adt.mrn', 'adt.family_name']);
    expect(await ledger.getDeliveries(empty?.id as string)).toEqual([]);
    const patients = (await (await fetch(`${ehr.url}/Patient`)).json()) as {
      entry?: Array<{ resource: { identifier?: Array<{ value?: string }> } }>;
    };
    expect(patients.entry?.map((e) => e.resource.identifier?.[0]?.value)).toEqual(['MRN-000123']);
  });

  it('holds a patient’s results while the EHR is down and delivers them in order when it returns', async () => {
    engine = await start();
    ehr.setFailure(503);
    expect(
      await sendAll(mllpPort, [
        oru('A-1', 'PAT-A'),
        oru('B-1', 'PAT-B'),
        oru('A-2', 'PAT-A'),
        oru('B-2', 'PAT-B'),
      ]),
    ).toEqual(['AA', 'AA', 'AA', 'AA']);
    await waitFor(
      'a parked delivery',
      async () => {
        const [a2] = await ledger.searchMessages({ key: { name: 'mrn', value: 'PAT-A' }, limit: 1 });
        const [d] = a2 ? (await ledger.getDeliveries(a2.id)).filter((x) => x.destination === 'ehr') : [];
        return d?.status === 'parked' ? d : undefined;
      },
      20_000,
      50,
    );
    await sleep(600);
    ehr.setFailure(undefined);
    await waitFor(
      'all delivered',
      async () => {
        const all = await ledger.searchMessages({ channelId: 'lab' });
        return all.length === 4 && all.every((m) => m.status === 'delivered');
      },
      20_000,
      50,
    );
    // Per patient, the EHR accepted the results in the order they were received.
    for (const mrn of ['PAT-A', 'PAT-B']) {
      const msgs = (await ledger.searchMessages({ key: { name: 'mrn', value: mrn } })).sort(
        (a, b) => a.seq - b.seq,
      );
      const sentAt: number[] = [];
      for (const m of msgs) {
        const attempts = await ledger.getAttempts(`${m.id}.ehr`);
        sentAt.push(attempts.find((a) => a.outcome === 'sent')?.finishedAt.getTime() ?? NaN);
      }
      expect(sentAt[0]).toBeLessThanOrEqual(sentAt[1] as number);
    }
  });

  it('dead-letters a permanent refusal and re-delivers it after `sinew replay`', async () => {
    engine = await start();
    ehr.setFailure(400);
    expect(await sendAll(mllpPort, [oru('P-1')])).toEqual(['AA']);
    const [m] = await ledger.searchMessages({ channelId: 'lab' });
    await waitFor(
      'dead letter',
      async () => (await ledger.getDelivery(`${m?.id}.ehr`))?.status === 'dead_lettered',
      20_000,
      50,
    );
    const [attempt] = await ledger.getAttempts(`${m?.id}.ehr`);
    expect(attempt?.code).toMatch(/400/);
    expect(attempt?.response?.toString()).toContain('OperationOutcome');
    ehr.setFailure(undefined);
    const listed = await runSinew(['replay', '--channel', 'lab', '--list', '--data', join(dir, 'data')], env);
    expect(listed.stdout).toContain(`${m?.id}.ehr`);
    const replay = await runSinew(
      ['replay', '--channel', 'lab', '--destination', 'ehr', '--data', join(dir, 'data')],
      env,
    );
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(`replayed\t${m?.id}.ehr`);
    await waitFor(
      'replayed delivery sent',
      async () => (await ledger.getDelivery(`${m?.id}.ehr`))?.status === 'sent',
      20_000,
      50,
    );
    expect(
      ((await (await fetch(`${ehr.url}/DiagnosticReport?_summary=count`)).json()) as { total?: number })
        .total,
    ).toBe(1);
  });

  it('loses nothing it acknowledged when killed with SIGKILL mid-load', async () => {
    engine = await start();
    const N = 150;
    const acked = new Set<string>();
    const clients = [0, 1, 2].map(
      () => new MllpClient({ host: '127.0.0.1', port: mllpPort, ackTimeoutMs: 2_000 }),
    );
    let killed = false;
    const load = clients.map(async (client, c) => {
      for (let i = c; i < N; i += clients.length) {
        if (killed) return;
        const id = `K-${i}`;
        const r = await client
          .send(Hl7Message.parse(oru(id, `PAT-${i % 7}`).replace(/\n/g, '\r')))
          .catch(() => undefined);
        if (r?.code === 'AA') acked.add(id);
        if (acked.size >= N / 2 && !killed) {
          killed = true;
          await engine?.kill();
        }
      }
    });
    await Promise.all(load);
    await Promise.all(clients.map((c) => c.close()));
    if (engine) logs.push(engine.stdout, engine.stderr);
    expect(acked.size).toBeGreaterThanOrEqual(N / 2);
    engine = await start();
    // The sender resends everything it has no ACK for, and a few it has (duplicates).
    const resend = [...Array(N).keys()].map((i) => `K-${i}`).filter((id) => !acked.has(id));
    const dupes = [...acked].slice(0, 5);
    const codes = await sendAll(
      mllpPort,
      [...resend, ...dupes].map((id) => oru(id, `PAT-${Number(id.slice(2)) % 7}`)),
    );
    expect(codes.every((c) => c === 'AA')).toBe(true);
    await waitFor(
      'every message delivered',
      async () => {
        const notices = new Set(pms.notices.map((n) => String(n.body.messageControlId)));
        return [...Array(N).keys()].every((i) => notices.has(`K-${i}`));
      },
      60_000,
      50,
    );
    const rows = await ledger.searchMessages({ channelId: 'lab', limit: 1000 });
    const ids = rows.map((r) => r.controlId);
    expect(new Set(ids).size).toBe(N);
    expect(rows.reduce((n, r) => n + r.duplicateCount, 0)).toBeGreaterThanOrEqual(dupes.length);
    await waitFor(
      'ledger all delivered',
      async () =>
        (await ledger.searchMessages({ channelId: 'lab', limit: 1000 })).every(
          (r) => r.status === 'delivered',
        ),
      20_000,
      50,
    );
  });

  if (mode === embedded) {
    it('answers AR while the ledger cannot be written', async () => {
      engine = await start();
      const lock = new Database(join(dir, 'data', 'sinew.db'));
      lock.exec('BEGIN EXCLUSIVE');
      try {
        expect(await sendAll(mllpPort, [oru('LOCK-1')])).toEqual(['AR']);
      } finally {
        lock.exec('ROLLBACK');
        lock.close();
      }
      expect(await sendAll(mllpPort, [oru('LOCK-1')])).toEqual(['AA']);
      await waitFor(
        'delivered',
        async () => (await ledger.searchMessages({ channelId: 'lab' }))[0]?.status === 'delivered',
        20_000,
        50,
      );
    });
  }

  if (mode === scaled) {
    it('splits receiving and working across two processes (the docker-compose topology)', async () => {
      const workers = await start({}, 'workers,scheduler');
      try {
        engine = await start({}, 'sources');
        expect(await sendAll(mllpPort, [oru('SPLIT-1')])).toEqual(['AA']);
        await waitFor(
          'delivered by the worker process',
          async () => {
            const [m] = await ledger.searchMessages({ channelId: 'lab' });
            return m?.status === 'delivered';
          },
          20_000,
          50,
        );
        expect(pms.notices.map((n) => n.body.messageControlId)).toEqual(['SPLIT-1']);
      } finally {
        expect(await workers.stop()).toBe(0);
        logs.push(workers.stdout, workers.stderr);
      }
    });

    it('loses nothing when Redis restarts mid-load', async () => {
      const port = await freePort();
      const startRedis = () =>
        spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
          { stdio: 'ignore' },
        );
      let redis: ChildProcess = startRedis();
      await waitFor('redis up', async () => (await runRedisPing(port)) || undefined, 10_000, 50);
      engine = await start({ REDIS_URL: `redis://127.0.0.1:${port}` });
      try {
        const first = await sendAll(
          mllpPort,
          [...Array(20).keys()].map((i) => oru(`RR-${i}`, `PAT-${i % 3}`)),
        );
        expect(first.every((c) => c === 'AA')).toBe(true);
        redis.kill('SIGKILL');
        await sleep(500);
        redis = startRedis();
        await waitFor('redis back', async () => (await runRedisPing(port)) || undefined, 10_000, 50);
        const second = await sendAll(
          mllpPort,
          [...Array(20).keys()].map((i) => oru(`RR-${20 + i}`, `PAT-${i % 3}`)),
        );
        expect(second.every((c) => c === 'AA')).toBe(true);
        await waitFor(
          'all 40 delivered',
          async () => {
            const notices = new Set(pms.notices.map((n) => String(n.body.messageControlId)));
            return [...Array(40).keys()].every((i) => notices.has(`RR-${i}`));
          },
          60_000,
          50,
        );
      } finally {
        await engine.kill();
        logs.push(engine.stdout, engine.stderr);
        engine = undefined;
        redis.kill('SIGKILL');
      }
    });

    it("keeps each patient's order across a Redis outage, with receiving and working apart", async () => {
      // Both destinations deliver in order per patient.
      writeFileSync(
        join(dir, 'channels', 'lab.yaml'),
        channelYaml(mllpPort, ehr.url, pms.url).replace(
          'transformer: oru-to-pms-results-ready',
          'transformer: oru-to-pms-results-ready\n    ordering: PID-3.1',
        ),
      );
      const port = await freePort();
      const startRedis = () =>
        spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
          { stdio: 'ignore' },
        );
      let redis: ChildProcess = startRedis();
      await waitFor('redis up', async () => (await runRedisPing(port)) || undefined, 10_000, 50);
      // A recovery sweep slower than the new messages after the outage (as under steady load).
      const redisEnv = { REDIS_URL: `redis://127.0.0.1:${port}`, SINEW_SWEEP_INTERVAL_MS: '15000' };
      const workers = await start(redisEnv, 'workers,scheduler');
      const patients = 5;
      const batch = (from: number) =>
        [...Array(10).keys()].map((i) => oru(`ORD-${from + i}`, `PAT-${(from + i) % patients}`));
      try {
        engine = await start(redisEnv, 'sources');
        expect(await sendAll(mllpPort, batch(0))).toEqual(Array(10).fill('AA'));
        await waitFor('the first ten delivered', async () => pms.notices.length >= 10, 20_000, 50);
        redis.kill('SIGKILL');
        await sleep(1_000);
        // Committed and acknowledged while the queue is down: only the recovery sweep enqueues them.
        expect(await sendAll(mllpPort, batch(10))).toEqual(Array(10).fill('AA'));
        // Long enough for the queue clients to give up on what they held.
        await sleep(6_000);
        redis = startRedis();
        await waitFor('redis back', async () => (await runRedisPing(port)) || undefined, 10_000, 50);
        // Sent at once after the queue returns, so that they reach the queue before the sweep runs.
        expect(await sendAll(mllpPort, batch(20))).toEqual(Array(10).fill('AA'));
        const sent = [...Array(30).keys()];
        await waitFor(
          'all 30 delivered to both destinations',
          async () => {
            const notices = new Set(pms.notices.map((n) => String(n.body.messageControlId)));
            const done = await ledger.searchMessages({ channelId: 'lab', status: 'delivered', limit: 100 });
            return sent.every((i) => notices.has(`ORD-${i}`)) && done.length === 30;
          },
          60_000,
          100,
        );
        // Per patient, the PMS received the notices in the order the lab sent them.
        const order = pms.notices.map((n) => Number(String(n.body.messageControlId).replace('ORD-', '')));
        for (let p = 0; p < patients; p++) {
          const mine = order.filter((i) => i % patients === p);
          expect(mine).toEqual([...new Set(mine)].sort((a, b) => a - b));
          expect(mine).toHaveLength(6);
        }
        // The EHR too, by the times the ledger recorded its accepting attempts.
        const ledgerOrder = await deliveryOrder(ledger, 'ehr');
        for (let p = 0; p < patients; p++) {
          const mine = ledgerOrder.filter((i) => i % patients === p);
          expect(mine).toEqual([...mine].sort((a, b) => a - b));
        }
      } finally {
        await engine?.kill();
        if (engine) logs.push(engine.stdout, engine.stderr);
        engine = undefined;
        await workers.kill();
        logs.push(workers.stdout, workers.stderr);
        redis.kill('SIGKILL');
      }
    });
  }
});

/**
 * The control ids (`ORD-n` → n) of the messages a destination accepted, in the order its
 * accepting attempts finished, as the ledger recorded them.
 */
async function deliveryOrder(ledger: Store, destination: string): Promise<number[]> {
  const messages = await ledger.searchMessages({ channelId: 'lab', limit: 1_000 });
  const sent: Array<{ n: number; at: number }> = [];
  for (const m of messages) {
    const d = (await ledger.getDeliveries(m.id)).find((x) => x.destination === destination);
    const ok = d && (await ledger.getAttempts(d.id)).find((a) => a.outcome === 'sent');
    if (ok) sent.push({ n: Number((m.controlId ?? '').replace('ORD-', '')), at: ok.finishedAt.getTime() });
  }
  return sent.sort((a, b) => a.at - b.at).map((x) => x.n);
}

function runRedisPing(port: number): Promise<boolean> {
  return new Promise((done) =>
    execFile('redis-cli', ['-p', String(port), 'ping'], { timeout: 2_000 }, (err, out) =>
      done(!err && out.trim() === 'PONG'),
    ),
  );
}
