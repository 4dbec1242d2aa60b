// Starts the demo stack as a user would: the stand-in EHR (a FHIR server) and PMS (a REST API
// over its own SQLite database, `pms.db` in the data folder, which tells the engine's pms-adt,
// pms-siu and pms-dft sources about every change) from dist/standins.js, and the engine with
// `sinew start` on the channels in channels/.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'sinew.js');
export const STANDINS = join(ROOT, 'dist', 'standins.js');

/** A port free on loopback right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The children started here that have not exited yet, in the order they were started. */
const running = new Set();
let closing = false;

/**
 * A child process whose output is kept, with a promise of its exit. It runs in a process group
 * of its own (detached), so a Ctrl-C at the terminal reaches the parent alone, which then stops
 * its children once each and in order ({@link stopChildren}): the engine never sees the same
 * stop twice (which it takes as "exit now").
 */
function run(args, env, label) {
  if (closing) throw new Error(`not starting ${label}: stopping`);
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const proc = { child, label, stdout: '', stderr: '' };
  running.add(proc);
  proc.exit = new Promise((done) =>
    child.on('exit', (code, signal) => {
      running.delete(proc);
      done({ code, signal });
    }),
  );
  child.stdout.on('data', (d) => (proc.stdout += d));
  child.stderr.on('data', (d) => (proc.stderr += d));
  return proc;
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves with its exit. */
async function stopProcess(proc, graceMs) {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  const exit = await proc.exit;
  clearTimeout(timer);
  return exit;
}

/**
 * Stops every child still running, the last started first (the engine before the stand-ins it
 * delivers to), each with SIGTERM and, after `graceMs`, SIGKILL. No child starts afterwards.
 */
export async function stopChildren(graceMs = 15_000) {
  closing = true;
  for (const proc of [...running].reverse()) await stopProcess(proc, graceMs);
}

/** Kills every child still running at once (SIGKILL), for an exit that cannot wait. */
export function killChildren() {
  closing = true;
  for (const proc of running) proc.child.kill('SIGKILL');
}

async function waitUntil(what, probe, proc, ms) {
  const until = Date.now() + ms;
  for (;;) {
    if (closing) throw new Error(`stopped before ${what}`);
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`${proc.label} exited ${proc.child.exitCode ?? proc.child.signalCode}\n${proc.stderr}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`${what} did not happen within ${ms / 1000} s\n${proc.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The variables the sandbox channels and `sinew sandbox` read their ports from. */
function sandboxPortsEnv(p) {
  return {
    SANDBOX_LAB_MLLP_PORT: String(p.sandboxLab),
    SANDBOX_ADT_MLLP_PORT: String(p.sandboxAdt),
    SANDBOX_SIU_MLLP_PORT: String(p.sandboxSiu),
    SANDBOX_DFT_MLLP_PORT: String(p.sandboxDft),
  };
}

/**
 * Sends the synthetic clinic's traffic (`sinew sandbox --no-engine`) to the sandbox channels of
 * a started stack, at `rate` messages per second; stopped with the other children.
 */
export function startSandboxTraffic(stackPorts, { rate, seed }) {
  return run(
    [BIN, 'sandbox', '--no-engine', '--rate', String(rate), '--seed', String(seed)],
    sandboxPortsEnv(stackPorts),
    'the sandbox traffic',
  );
}

/**
 * Starts the stand-ins and the engine. `ports` may fix any of ehr, pms, lab, adt, siu, dft,
 * pmsHl7 (where the PMS takes SIU/ADT from the fhir-writes channel), http, sandboxLab,
 * sandboxAdt, sandboxSiu, sandboxDft; the others are chosen free. Resolves once the engine
 * answers /ready.
 */
export async function startStack({ dataDir, ports = {}, extraEnv = {} }) {
  const p = {
    ehr: ports.ehr ?? (await freePort()),
    pms: ports.pms ?? (await freePort()),
    lab: ports.lab ?? (await freePort()),
    adt: ports.adt ?? (await freePort()),
    siu: ports.siu ?? (await freePort()),
    dft: ports.dft ?? (await freePort()),
    pmsHl7: ports.pmsHl7 ?? (await freePort()),
    http: ports.http ?? (await freePort()),
    // The sandbox channels (channels/sandbox/) the engine deploys with the rest.
    sandboxLab: ports.sandboxLab ?? (await freePort()),
    sandboxAdt: ports.sandboxAdt ?? (await freePort()),
    sandboxSiu: ports.sandboxSiu ?? (await freePort()),
    sandboxDft: ports.sandboxDft ?? (await freePort()),
  };
  const urls = {
    ehr: `http://127.0.0.1:${p.ehr}/fhir`,
    pms: `http://127.0.0.1:${p.pms}`,
    engine: `http://127.0.0.1:${p.http}`,
  };
  // The PMS sends to the engine's MLLP sources; until the engine listens it has nothing to send.
  const standins = run(
    [
      STANDINS,
      '--ehr-port',
      String(p.ehr),
      '--pms-port',
      String(p.pms),
      '--pms-db',
      join(dataDir, 'pms.db'),
      '--pms-export-dir',
      join(dataDir, 'exports'),
      '--pms-adt-mllp',
      `127.0.0.1:${p.adt}`,
      '--pms-siu-mllp',
      `127.0.0.1:${p.siu}`,
      '--pms-dft-mllp',
      `127.0.0.1:${p.dft}`,
      '--pms-hl7-port',
      String(p.pmsHl7),
    ],
    {},
    'the stand-ins',
  );
  try {
    await waitUntil(
      'the stand-ins listening',
      async () => (await fetch(`${urls.pms}/api/notices`)).ok,
      standins,
      15_000,
    );
  } catch (err) {
    standins.child.kill('SIGKILL');
    throw err;
  }
  const engine = run(
    [BIN, 'start', '--channels', join(ROOT, 'channels'), '--data', dataDir, '--http-port', String(p.http)],
    {
      EHR_URL: urls.ehr,
      PMS_URL: urls.pms,
      LAB_MLLP_PORT: String(p.lab),
      PMS_ADT_MLLP_PORT: String(p.adt),
      PMS_SIU_MLLP_PORT: String(p.siu),
      PMS_DFT_MLLP_PORT: String(p.dft),
      PMS_HL7_PORT: String(p.pmsHl7),
      ...sandboxPortsEnv(p),
      SINEW_LOG_LEVEL: 'info',
      ...extraEnv,
    },
    'the engine',
  );
  try {
    await waitUntil('the engine ready', async () => (await fetch(`${urls.engine}/ready`)).ok, engine, 30_000);
  } catch (err) {
    standins.child.kill('SIGKILL');
    engine.child.kill('SIGKILL');
    throw err;
  }
  /** Stops the engine (work in flight finishes), then the stand-ins; resolves with the engine's exit. */
  const stop = async (graceMs = 15_000) => {
    const e = await stopProcess(engine, graceMs);
    await stopProcess(standins, graceMs);
    return e;
  };
  return { ports: p, urls, standins, engine, stop };
}

/** Runs `sinew ARGS` to its end, `input` on its standard input: its exit code and output. */
function sinew(args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/**
 * The first sign-in: when the ledger in `dataDir` (or DATABASE_URL's) has no user yet, creates
 * the user `admin` (role admin) with a random password of 24 characters, and resolves with it
 * (to be shown once); resolves with undefined when users exist. Never a fixed password.
 */
export async function ensureFirstAdmin(dataDir) {
  const list = await sinew(['users', 'list', '--data', dataDir]);
  if (list.code !== 0) throw new Error(`sinew users list failed: ${list.stderr.trim()}`);
  // A header line, then one line per user.
  const users = list.stdout.split('\n').filter((l) => l.trim() !== '').length - 1;
  if (users > 0) return undefined;
  const password = randomBytes(18).toString('base64url');
  const created = await sinew(
    ['users', 'create', '--username', 'admin', '--role', 'admin', '--password-stdin', '--data', dataDir],
    password,
  );
  if (created.code !== 0) throw new Error(`sinew users create failed: ${created.stderr.trim()}`);
  return { username: 'admin', password };
}
