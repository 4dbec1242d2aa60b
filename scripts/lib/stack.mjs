// Starts the demo stack as a user would: the stand-in EHR (a FHIR server) and PMS (a REST API)
// from dist/standins.js, and the engine with `sinew start` on the channels in channels/.
import { spawn } from 'node:child_process';
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

/** A child process whose output is kept, with a promise of its exit. */
function run(args, env, label) {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = { child, label, stdout: '', stderr: '' };
  proc.exit = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));
  child.stdout.on('data', (d) => (proc.stdout += d));
  child.stderr.on('data', (d) => (proc.stderr += d));
  return proc;
}

async function waitUntil(what, probe, proc, ms) {
  const until = Date.now() + ms;
  for (;;) {
    if (proc.child.exitCode !== null)
      throw new Error(`${proc.label} exited ${proc.child.exitCode}\n${proc.stderr}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`${what} did not happen within ${ms / 1000} s\n${proc.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts the stand-ins and the engine. `ports` may fix any of ehr, pms, lab, adt, siu, http;
 * the others are chosen free. Resolves once the engine answers /ready.
 */
export async function startStack({ dataDir, ports = {}, extraEnv = {} }) {
  const p = {
    ehr: ports.ehr ?? (await freePort()),
    pms: ports.pms ?? (await freePort()),
    lab: ports.lab ?? (await freePort()),
    adt: ports.adt ?? (await freePort()),
    siu: ports.siu ?? (await freePort()),
    http: ports.http ?? (await freePort()),
  };
  const urls = {
    ehr: `http://127.0.0.1:${p.ehr}/fhir`,
    pms: `http://127.0.0.1:${p.pms}`,
    engine: `http://127.0.0.1:${p.http}`,
  };
  const standins = run(
    [STANDINS, '--ehr-port', String(p.ehr), '--pms-port', String(p.pms)],
    {},
    'the stand-ins',
  );
  await waitUntil(
    'the stand-ins listening',
    async () => (await fetch(`${urls.pms}/api/notices`)).ok,
    standins,
    15_000,
  );
  const engine = run(
    [BIN, 'start', '--channels', join(ROOT, 'channels'), '--data', dataDir, '--http-port', String(p.http)],
    {
      EHR_URL: urls.ehr,
      PMS_URL: urls.pms,
      LAB_MLLP_PORT: String(p.lab),
      PMS_ADT_MLLP_PORT: String(p.adt),
      PMS_SIU_MLLP_PORT: String(p.siu),
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
  const stop = async () => {
    if (engine.child.exitCode === null) engine.child.kill('SIGTERM');
    const e = await engine.exit;
    if (standins.child.exitCode === null) standins.child.kill('SIGTERM');
    await standins.exit;
    return e;
  };
  return { ports: p, urls, standins, engine, stop };
}
