// `npm start`: the demo stack, left running. The stand-in EHR and PMS (EHR_PORT, PMS_PORT:
// 8090, 8091), the engine (`sinew start`) with the channels in channels/ and its ledger in
// ./data (SINEW_DATA_DIR), the lab channel's MLLP listener on LAB_MLLP_PORT (2575; ADT on
// PMS_ADT_MLLP_PORT 2576, SIU on PMS_SIU_MLLP_PORT 2577, DFT on PMS_DFT_MLLP_PORT 2578), the
// PMS's own MLLP listener for the fhir-writes channel on PMS_HL7_PORT (2580),
// /health /ready /metrics on SINEW_HTTP_PORT (8080). The PMS keeps its records in the data
// folder (pms.db, its CSV exports in exports/) and sends every change to those listeners. A port of 0 picks a free one. Ctrl-C, SIGTERM or SIGHUP stops the
// engine (work in flight finishes), then the stand-ins, and exits with the engine's status
// (128 + the signal's number when it comes during start-up); a child still running 15 s later
// is killed. The ledger stays in the data folder. The sandbox channels (channels/sandbox) listen
// on SANDBOX_LAB_MLLP_PORT, SANDBOX_ADT_MLLP_PORT, SANDBOX_SIU_MLLP_PORT, SANDBOX_DFT_MLLP_PORT
// (2675-2678); with SANDBOX_RATE (messages per second; SANDBOX_SEED, default 1) the synthetic
// clinic of `sinew sandbox` sends them its traffic, its summary on stderr at the end. The web console is on the engine's HTTP port;
// on a ledger without users, the user `admin` is created with a generated password, shown once.
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { ensureFirstAdmin, ROOT, startSandboxTraffic, startStack, stopChildren } from './lib/stack.mjs';

if (!existsSync(join(ROOT, 'dist', 'sinew.js')) || !existsSync(join(ROOT, 'dist', 'standins.js'))) {
  process.stderr.write('run `npm ci` first (it builds dist/)\n');
  process.exit(1);
}

/** The port in `name`, or `fallback` when unset; 0 (a free port) becomes undefined. */
function portFromEnv(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    process.stderr.write(`npm start: ${name} must be a port number 0-65535, got "${text}"\n`);
    process.exit(2);
  }
  return Number(text) === 0 ? undefined : Number(text);
}

const ports = {
  ehr: portFromEnv('EHR_PORT', 8090),
  pms: portFromEnv('PMS_PORT', 8091),
  lab: portFromEnv('LAB_MLLP_PORT', 2575),
  adt: portFromEnv('PMS_ADT_MLLP_PORT', 2576),
  siu: portFromEnv('PMS_SIU_MLLP_PORT', 2577),
  dft: portFromEnv('PMS_DFT_MLLP_PORT', 2578),
  pmsHl7: portFromEnv('PMS_HL7_PORT', 2580),
  http: portFromEnv('SINEW_HTTP_PORT', 8080),
  sandboxLab: portFromEnv('SANDBOX_LAB_MLLP_PORT', 2675),
  sandboxAdt: portFromEnv('SANDBOX_ADT_MLLP_PORT', 2676),
  sandboxSiu: portFromEnv('SANDBOX_SIU_MLLP_PORT', 2677),
  sandboxDft: portFromEnv('SANDBOX_DFT_MLLP_PORT', 2678),
};

/** SANDBOX_RATE: messages per second of synthetic traffic into the sandbox channels (none when unset). */
const sandboxRate = process.env.SANDBOX_RATE ?? '';
if (sandboxRate !== '' && !(/^\d+(\.\d+)?$/.test(sandboxRate) && Number(sandboxRate) > 0)) {
  process.stderr.write(
    `npm start: SANDBOX_RATE must be a number of messages per second above 0, got "${sandboxRate}"\n`,
  );
  process.exit(2);
}
const sandboxSeed = process.env.SANDBOX_SEED ?? '1';
if (!/^\d+$/.test(sandboxSeed)) {
  process.stderr.write(`npm start: SANDBOX_SEED must be a whole number, got "${sandboxSeed}"\n`);
  process.exit(2);
}

let stack;
let stopping = false;
async function stop(signal) {
  // Ctrl-C under `npm start` arrives twice (from the terminal and forwarded by npm): the first
  // one stops, the others are ignored; a child that does not stop is killed after 15 s.
  if (stopping) return;
  stopping = true;
  process.stderr.write(`npm start: ${signal}, stopping\n`);
  await stopChildren();
  const exit = stack ? await stack.engine.exit : undefined;
  process.exit(exit ? (exit.code ?? 1) : 128 + constants.signals[signal]);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stop(signal));

const dataDir = process.env.SINEW_DATA_DIR ?? join(ROOT, 'data');

startStack({ dataDir, ports })
  .then(async (started) => ({ started, admin: await ensureFirstAdmin(dataDir) }))
  .then(ready, async (err) => {
    // After a signal, stop() exits once the children are gone.
    if (stopping) return;
    process.stderr.write(`npm start: ${err.message}\n`);
    await stopChildren();
    process.exit(1);
  });

function ready({ started, admin }) {
  stack = started;
  if (stopping) return;
  stack.engine.child.stdout.pipe(process.stdout);
  stack.engine.child.stderr.pipe(process.stderr);
  const { urls } = stack;
  const signIn = admin
    ? `Sign in as ${admin.username} with password ${admin.password} (generated now, shown once; change it: npx sinew users set-password ${admin.username} --password-stdin --data ${dataDir})`
    : 'sign in with your user';
  process.stdout.write(`
Sinew is running.
  Console   ${urls.engine}/
            ${signIn}
  engine    ${urls.engine}/ready  ·  ${urls.engine}/metrics
  EHR       ${urls.ehr}  (a FHIR R4 server, in memory)
  PMS       ${urls.pms}/api/patients  ·  /api/appointments  ·  /api/charges  ·  /api/outbox  ·  /api/notices
            (a REST API over ${join(dataDir, 'pms.db')}; each change goes to Sinew over MLLP)
  Sandbox   MLLP lab ${stack.ports.sandboxLab}, ADT ${stack.ports.sandboxAdt}, SIU ${stack.ports.sandboxSiu}, DFT ${stack.ports.sandboxDft} (channels/sandbox, the hub's sandbox environment)
            ${sandboxRate ? `synthetic clinic traffic at ${sandboxRate} messages/s (seed ${sandboxSeed})` : 'synthetic clinic traffic: SANDBOX_RATE=5 npm start, or npx sinew sandbox --no-engine'}

Try:
  npx sinew send --port ${stack.ports.lab} channels/samples/oru-r01.hl7     # a lab result
  npx sinew send --port ${stack.ports.adt} channels/samples/adt-a01.hl7     # an admission
  npx sinew send --port ${stack.ports.siu} channels/samples/siu-s12.hl7     # an appointment
  npx sinew send --port ${stack.ports.dft} channels/samples/dft-p03.hl7     # a charge
  curl -H 'content-type: application/json' -d '{"mrn":"MRN-2001","family":"Doe","given":"Jane","birth_date":"1990-05-01","sex":"F"}' ${urls.pms}/api/patients
  curl '${urls.pms}/api/outbox'                  # what the PMS sent, and the ACKs
  curl '${urls.ehr}/Patient?identifier=MRN-2001'
  curl '${urls.ehr}/DiagnosticReport'
  curl '${urls.pms}/api/notices'
  npx sinew reconcile run demo                   # the PMS against the EHR (reconciliations/demo.yaml)

Ctrl-C stops it.
`);
  if (sandboxRate) {
    const traffic = startSandboxTraffic(stack.ports, { rate: sandboxRate, seed: sandboxSeed });
    traffic.child.stdout.pipe(process.stderr);
    traffic.child.stderr.pipe(process.stderr);
  }
  void stack.engine.exit.then(async ({ code, signal }) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`npm start: the engine exited (${code ?? signal})\n`);
    await stopChildren();
    process.exit(1);
  });
}
