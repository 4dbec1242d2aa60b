// `node bench/run.mjs chaos [--messages N] [--scenarios a,b,...] [--out file.json] [--outage S] [--rate R]`
//
// Faults and hostile peers against the engine as a user runs it (`node bin/sinew.js start`,
// its own processes). In every scenario a lab sends ORU^R01 over MLLP — N messages for 20
// patients on 4 connections, each patient on one connection and in order, paced at R msg/s,
// re-sending a message until it is ACKed — to a channel whose HTTP destination keeps order
// per patient (`ordering: PID-3.1`) and delivers to a sink that records what it receives.
// The lab is the control sender: a send not ACKed AA within 5 s is a control-sender failure.
//
// Scenarios (all by default):
//   baseline       no fault, embedded (SQLite + in-process queue): what the others compare with
//   baseline-scaled no fault, scale-out as redis-restart runs it
//   kill9          the engine is killed (SIGKILL) when half the messages are ACKed, restarted 1 s later
//   outage         the receiver refuses connections for --outage seconds (default 5), then is back
//   slow           the receiver answers 10 s late for 8 s (the destination's timeout is its default)
//   redis-restart  scale-out (sources and workers,scheduler processes, PostgreSQL + a Redis of the
//                  bench's own, AOF fsync every second): Redis is killed (SIGKILL) at half load
//                  and started again 2 s later
//   hostile-mllp   beside the lab: random-byte frames (on a second listener), and an idle and a
//                  slow connection flood on the lab's port, under way before the lab connects
//   hostile-http   beside the lab: oversized and deeply nested JSON bodies to an HTTP source,
//                  and slowloris connections (35 s, past its request timeout) while a second
//                  control sender posts a message to that source every 200 ms
// PostgreSQL restarts are not run: the bench uses the machine's shared server.
//
// For each: messages sent and ACKed, faults injected, lost (ACKed, never received), duplicates
// (received more than once), order violations (per patient: a message received after a later
// one of the same patient), control-sender failures, ACK p99 and the engine's peak RSS. A
// markdown table is printed and the rows are written to --out (default .bench-out/chaos.json).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import { flushPrefix } from '../../test/support/redis';
import {
  drain,
  EngineProcess,
  freePort,
  oru,
  pct,
  ROOT,
  runLab,
  Sink,
  sleep,
  tally,
  ThrowawayRedis,
  type LabOptions,
  type LabResult,
} from './harness';
import {
  connectionFlood,
  emptyHttpCounts,
  httpControl,
  nestedJsonBodies,
  oversizedBodies,
  randomFrames,
  slowloris,
} from './hostile';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};

const ALL = [
  'baseline',
  'baseline-scaled',
  'kill9',
  'outage',
  'slow',
  'redis-restart',
  'hostile-mllp',
  'hostile-http',
] as const;
type ScenarioName = (typeof ALL)[number];

const N = Number(arg('messages', '300'));
const RATE = Number(arg('rate', '50'));
const OUTAGE_S = Number(arg('outage', '5'));
const DRAIN_MS = Number(arg('drain', '90')) * 1000;
const OUT = resolve(arg('out', join(ROOT, '.bench-out', 'chaos.json')));
const CHOSEN = arg('scenarios', ALL.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const PATIENTS = 20;
const CONNECTIONS = 4;
const ACK_TIMEOUT_MS = 5_000;
const IDLE_FLOOD = 120;
const SLOW_FLOOD = 40;
const SLOWLORIS = 200;

export interface Row {
  scenario: string;
  mode: 'embedded' | 'scaled';
  messages: number;
  acked: number;
  faults: number;
  lost: number;
  duplicates: number;
  orderViolations: number;
  /** The first few order violations: `PAT-3: #43 after #63` (per-patient send indexes). */
  orderExamples: string[];
  controlFailures: number;
  /** Failed sends of the control sender, re-sends included, and how they ended. */
  controlFailedSends: number;
  controlFailedHow: Record<string, number>;
  /** Messages the lab gave up re-sending, and messages it had no time to send. */
  abandoned: number;
  unsent: number;
  /** The lab's sending time, first send to last answer. */
  sendS: number;
  ackP99Ms: number;
  peakRssMb: number;
  /** Seconds from the last ACK until every ACKed message was received (or the drain gave up). */
  drainS: number;
  notes: string;
}

/** A fresh folder for one scenario: channels, data, logs. */
function workDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `sinew-chaos-${name}-`));
}

function labChannel(mllpPort: number, sinkPort: number): string {
  return `id: lab
source: { type: mllp, listen: "127.0.0.1:${mllpPort}" }
keys: { mrn: PID-3.1 }
destinations:
  - name: results
    type: http
    url: http://127.0.0.1:${sinkPort}/results
    ordering: PID-3.1
    retry: { attempts: 1000, initial_delay_ms: 200, multiplier: 2, max_delay_ms: 2000 }
`;
}

function labOptions(port: number, tag: string): LabOptions {
  return {
    port,
    tag: `${tag}-${process.pid}`,
    messages: N,
    patients: PATIENTS,
    connections: CONNECTIONS,
    rate: RATE,
    ackTimeoutMs: ACK_TIMEOUT_MS,
    giveUpMs: 60_000,
  };
}

function row(
  scenario: string,
  mode: Row['mode'],
  lab: LabResult,
  sink: Sink,
  faults: number,
  peakRssMb: number,
  drainMs: number,
  notes: string,
): Row {
  const t = tally(lab, sink.received);
  return {
    scenario,
    mode,
    messages: N,
    acked: lab.acked.size,
    faults,
    lost: t.lost,
    duplicates: t.duplicates,
    orderViolations: t.orderViolations,
    orderExamples: t.orderExamples,
    controlFailures: lab.failures,
    controlFailedSends: lab.failedSends,
    controlFailedHow: lab.failedHow,
    abandoned: lab.abandoned,
    unsent: lab.unsent,
    sendS: Math.round(lab.durationMs / 100) / 10,
    ackP99Ms: Math.round(pct(lab.latencies, 99) * 10) / 10,
    peakRssMb: Math.round(peakRssMb),
    drainS: Math.round(drainMs / 100) / 10,
    notes,
  };
}

/** One embedded engine with the lab channel (plus `extra` channel files), and the sink. */
async function embedded(name: string, extra: (dir: string) => Record<string, string> = () => ({})) {
  const dir = workDir(name);
  const sink = new Sink();
  await sink.start();
  const mllpPort = await freePort();
  mkdirSync(join(dir, 'channels'));
  writeFileSync(join(dir, 'channels', 'lab.yaml'), labChannel(mllpPort, sink.port));
  for (const [file, text] of Object.entries(extra(dir))) writeFileSync(join(dir, 'channels', file), text);
  const engine = new EngineProcess({
    channelsDir: join(dir, 'channels'),
    dataDir: join(dir, 'data'),
    logFile: join(dir, 'engine.log'),
  });
  try {
    await engine.start();
  } catch (err) {
    await sink.stop();
    throw err;
  }
  return {
    dir,
    sink,
    mllpPort,
    engine,
    async close() {
      await engine.stop();
      await sink.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function kill9(): Promise<Row> {
  const e = await embedded('kill9');
  try {
    let fault: Promise<void> | undefined;
    const lab = await runLab(labOptions(e.mllpPort, 'kill9'), (acked) => {
      if (acked >= N / 2 && !fault) {
        fault = (async () => {
          await e.engine.kill9();
          await sleep(1_000);
          await e.engine.start();
        })();
      }
    });
    await fault;
    const drained = await drain(lab, e.sink, DRAIN_MS);
    return row('kill -9 engine, restart', 'embedded', lab, e.sink, 1, e.engine.rssMb(), drained, '');
  } finally {
    await e.close();
  }
}

async function outage(): Promise<Row> {
  const e = await embedded('outage');
  try {
    let fault: Promise<void> | undefined;
    const lab = await runLab(labOptions(e.mllpPort, 'outage'), (acked) => {
      if (acked >= N / 4 && !fault) {
        fault = (async () => {
          await e.sink.refuse();
          await sleep(OUTAGE_S * 1000);
          await e.sink.resume();
        })();
      }
    });
    await fault;
    const drained = await drain(lab, e.sink, DRAIN_MS);
    return row(
      `destination refuses ${OUTAGE_S} s`,
      'embedded',
      lab,
      e.sink,
      1,
      e.engine.rssMb(),
      drained,
      '',
    );
  } finally {
    await e.close();
  }
}

async function slow(): Promise<Row> {
  const e = await embedded('slow');
  try {
    let fault: Promise<void> | undefined;
    const lab = await runLab(labOptions(e.mllpPort, 'slow'), (acked) => {
      if (acked >= N / 4 && !fault) {
        fault = (async () => {
          e.sink.delayMs = 10_000;
          await sleep(8_000);
          e.sink.delayMs = 0;
        })();
      }
    });
    await fault;
    const drained = await drain(lab, e.sink, DRAIN_MS);
    return row(
      'destination answers after 10 s',
      'embedded',
      lab,
      e.sink,
      e.sink.slowAnswers,
      e.engine.rssMb(),
      drained,
      `${e.sink.slowAnswers} slow answers (destination timeout: default)`,
    );
  } finally {
    await e.close();
  }
}

/** Scale-out: a sources process and a workers,scheduler process on PostgreSQL and a Redis of the bench's own. */
async function scaled(name: string, redisFault: boolean): Promise<Row> {
  const dir = workDir(name);
  const redis = new ThrowawayRedis(join(dir, 'redis'));
  await redis.start();
  const schema = `bench_chaos_${process.pid}`;
  const prefix = `bench-chaos-${process.pid}`;
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const env = {
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    REDIS_URL: redis.url,
    SINEW_REDIS_PREFIX: prefix,
  };
  const sink = new Sink();
  await sink.start();
  const mllpPort = await freePort();
  mkdirSync(join(dir, 'channels'));
  writeFileSync(join(dir, 'channels', 'lab.yaml'), labChannel(mllpPort, sink.port));
  const sources = new EngineProcess({
    channelsDir: join(dir, 'channels'),
    dataDir: join(dir, 'data-sources'),
    logFile: join(dir, 'sources.log'),
    roles: 'sources',
    env,
  });
  const workers = new EngineProcess({
    channelsDir: join(dir, 'channels'),
    dataDir: join(dir, 'data-workers'),
    logFile: join(dir, 'workers.log'),
    roles: 'workers,scheduler',
    env,
  });
  try {
    await sources.start();
    await workers.start();
    let fault: Promise<void> | undefined;
    const lab = await runLab(labOptions(mllpPort, name), (acked) => {
      if (redisFault && acked >= N / 2 && !fault) {
        fault = (async () => {
          await redis.kill9();
          await sleep(2_000);
          await redis.start();
        })();
      }
    });
    await fault;
    const drained = await drain(lab, sink, DRAIN_MS);
    return row(
      redisFault ? 'Redis killed, restarted' : 'no fault',
      'scaled',
      lab,
      sink,
      redisFault ? 1 : 0,
      Math.max(sources.rssMb(), workers.rssMb()),
      drained,
      'sources + workers,scheduler processes; AOF everysec',
    );
  } finally {
    await sources.stop();
    await workers.stop();
    await sink.stop();
    await flushPrefix(redis.url, prefix).catch(() => undefined);
    await redis.stop();
    const c = new Client({ connectionString: databaseUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

const redisRestart = () => scaled('redis', true);
const baselineScaled = () => scaled('base-scaled', false);

async function baseline(): Promise<Row> {
  const e = await embedded('base');
  try {
    const lab = await runLab(labOptions(e.mllpPort, 'base'));
    const drained = await drain(lab, e.sink, DRAIN_MS);
    return row('no fault', 'embedded', lab, e.sink, 0, e.engine.rssMb(), drained, '');
  } finally {
    await e.close();
  }
}

async function hostileMllp(): Promise<Row> {
  // Random frames go to a listener of their own (same engine, same event loop), so that what
  // they get is the parser's answer; the floods take the lab's own port, as an attack on an
  // exposed listener does, and are under way before the lab connects.
  const hostilePort = await freePort();
  const e = await embedded('hostile-mllp', (dir) => ({
    'open.yaml': `id: open
source: { type: mllp, listen: "127.0.0.1:${hostilePort}" }
destinations:
  - { name: discard, type: file, directory: "${join(dir, 'discard')}", retry: { attempts: 1 } }
`,
  }));
  const frames = Math.max(50, Math.round(N / 2));
  const idle = connectionFlood(e.mllpPort, IDLE_FLOOD, 'idle');
  const slowConns = connectionFlood(e.mllpPort, SLOW_FLOOD, 'slow');
  try {
    await sleep(1_000);
    const [lab, counts] = await Promise.all([
      runLab({ ...labOptions(e.mllpPort, 'hmllp'), giveUpMs: 10_000, deadlineMs: 60_000 }),
      randomFrames(hostilePort, frames, 8),
    ]);
    idle.stop();
    slowConns.stop();
    const drained = await drain(lab, e.sink, DRAIN_MS);
    const opened = idle.opened + slowConns.opened;
    return row(
      'hostile MLLP',
      'embedded',
      lab,
      e.sink,
      counts.frames + IDLE_FLOOD + SLOW_FLOOD,
      e.engine.rssMb(),
      drained,
      `${counts.frames} random frames: ${counts.aa} AA, ${counts.refused} AE/AR, ${counts.noReply} no reply, ` +
        `${counts.closed} closed without a reply; on the lab's port ${IDLE_FLOOD} idle + ${SLOW_FLOOD} slow ` +
        `connections from 40 other addresses (${opened} opened in all, a closed one reopened after 0.5 s)`,
    );
  } finally {
    idle.stop();
    slowConns.stop();
    await e.close();
  }
}

async function hostileHttp(): Promise<Row> {
  const httpPort = await freePort();
  const e = await embedded('hostile-http', (dir) => ({
    'web.yaml': `id: web
source: { type: http, listen: "127.0.0.1:${httpPort}", path: /in }
destinations:
  - { name: discard, type: file, directory: "${join(dir, 'discard')}", retry: { attempts: 1 } }
`,
  }));
  try {
    const counts = emptyHttpCounts();
    // Longer than the HTTP source's request timeout (30 s by default): does it close them?
    const loris = slowloris(httpPort, SLOWLORIS, Math.max(35_000, (N / RATE) * 1000));
    const control = httpControl(
      httpPort,
      '/in',
      (i) => oru(`hhttp-ctl-${process.pid}-${i}`, `WEB-${i % PATIENTS}`),
      200,
      loris,
    );
    const [lab] = await Promise.all([
      runLab({ ...labOptions(e.mllpPort, 'hhttp'), giveUpMs: 10_000, deadlineMs: 60_000 }),
      (async () => {
        await oversizedBodies(httpPort, '/in', 5, 64, counts);
        await nestedJsonBodies(httpPort, '/in', 20, 200_000, counts);
      })(),
    ]);
    const { closedByServer } = await loris;
    const web = await control;
    const rss = e.engine.rssMb();
    const drained = await drain(lab, e.sink, DRAIN_MS);
    const statuses = Object.entries(counts.statuses)
      .map(([k, v]) => `${v}× ${k}`)
      .join(', ');
    const r = row(
      'hostile HTTP',
      'embedded',
      lab,
      e.sink,
      counts.requests + SLOWLORIS,
      rss,
      drained,
      `${counts.requests} bodies (5 × 64 MiB, 20 × JSON nested 200,000 deep): ${counts.refused} refused, ` +
        `${counts.errors} 5xx, ${counts.accepted} accepted, ${counts.noAnswer} unanswered (${statuses}); ` +
        `${SLOWLORIS} slowloris connections: ${closedByServer} closed by the engine; control-sender failures: ` +
        `MLLP lab ${lab.failures}, HTTP sender ${web.failed} of ${web.sent} (HTTP p99 ${pct(web.latencies, 99).toFixed(1)} ms)`,
    );
    r.controlFailures += web.failed;
    r.controlFailedSends += web.failed;
    return r;
  } finally {
    await e.close();
  }
}

const SCENARIOS: Record<ScenarioName, () => Promise<Row>> = {
  baseline,
  'baseline-scaled': baselineScaled,
  kill9,
  outage,
  slow,
  'redis-restart': redisRestart,
  'hostile-mllp': hostileMllp,
  'hostile-http': hostileHttp,
};

export function markdownTable(rows: Row[]): string {
  const head = [
    'scenario',
    'mode',
    'messages',
    'ACKed',
    'faults',
    'lost',
    'duplicates',
    'order violations',
    'control-sender failures',
    'ACK p99 ms',
    'peak RSS MB',
    'drain s',
  ];
  const lines = [
    `| ${head.join(' | ')} |`,
    `| ${head.map((h, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
  ];
  for (const r of rows) {
    lines.push(
      `| ${[
        r.scenario,
        r.mode,
        r.messages,
        r.acked,
        r.faults,
        r.lost,
        r.duplicates,
        r.orderViolations,
        r.controlFailures,
        r.ackP99Ms,
        r.peakRssMb,
        r.drainS,
      ].join(' | ')} |`,
    );
  }
  const notes = rows
    .filter((r) => r.notes || r.orderExamples.length || r.controlFailedSends)
    .map((r) => {
      const order = r.orderExamples.length ? `order violations e.g. ${r.orderExamples.join('; ')}` : '';
      const how = Object.entries(r.controlFailedHow)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      const lab = r.controlFailedSends
        ? `lab: ${r.controlFailedSends} failed sends (${how}), ${r.abandoned} messages given up, ` +
          `${r.unsent} not sent, sending took ${r.sendS} s`
        : '';
      return `- ${r.scenario} (${r.mode}): ${[r.notes, lab, order].filter(Boolean).join('; ')}`;
    });
  return [...lines, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

async function main(): Promise<void> {
  const unknown = CHOSEN.filter((s) => !(ALL as readonly string[]).includes(s));
  if (unknown.length) {
    console.error(`bench chaos: unknown scenario ${unknown.join(', ')}; scenarios: ${ALL.join(', ')}`);
    process.exit(2);
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? '?'}, node ${process.version}`;
  console.log(
    `bench chaos: ${N} messages per scenario at ${RATE} msg/s, ${PATIENTS} patients on ${CONNECTIONS} connections; ` +
      `${machine}; load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const rows: Row[] = [];
  for (const name of CHOSEN as ScenarioName[]) {
    const t0 = performance.now();
    try {
      const r = await SCENARIOS[name]();
      rows.push(r);
      console.log(
        `${name}: ${r.acked}/${r.messages} ACKed, lost ${r.lost}, duplicates ${r.duplicates}, order violations ` +
          `${r.orderViolations}, control failures ${r.controlFailures} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    } catch (err) {
      console.error(`${name}: the scenario failed: ${(err as Error).stack ?? String(err)}`);
      process.exitCode = 1;
    }
  }
  const table = markdownTable(rows);
  console.log(`\n${table}\n`);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify({ date: new Date().toISOString(), machine, messages: N, rate: RATE, rows }, null, 2)}\n`,
  );
  console.log(`rows written to ${OUT}`);
  // A scenario that failed half-way may leave a socket or timer behind: do not wait for it.
  process.exit();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
