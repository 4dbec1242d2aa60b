// `npm run demo`: Sinew at work on the sample messages, with no services to install: the
// engine (`sinew start`, embedded ledger and queue) between a stand-in lab, PMS and EHR. Each
// step runs the `sinew` command as a user would (`node bin/sinew.js …`); the demo exits 1 as
// soon as one of them does not do what it should, and gives up after 60 seconds.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, ROOT, killChildren, startStack } from './lib/stack.mjs';

const ADT = 'channels/samples/adt-a01.hl7';
const ORU = 'channels/samples/oru-r01.hl7';
const SIU = 'channels/samples/siu-s12.hl7';
const DEADLINE_MS = 60_000;
const STEP_TIMEOUT_MS = 10_000;

const started = Date.now();
let stack;
let dataDir;

const say = (text = '') => process.stdout.write(`${text}\n`);
const heading = (n, text) => say(`\n${n}. ${text}`);
const command = (args) => say(`   $ sinew ${args.join(' ')}`);
const indent = (text) =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `     ${line}`)
    .join('\n');

class StepFailed extends Error {}

/** Runs `node bin/sinew.js …args` and resolves with its exit status and output. */
function sinew(args, env = process.env) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env, timeout: STEP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Like `sinew`, but a non-zero exit status ends the demo. */
async function must(args) {
  const r = await sinew(args);
  if (r.code !== 0) throw new StepFailed(`sinew ${args[0]} exited ${r.code}\n${indent(r.stderr)}`);
  return r;
}

/** `1 Patient, 1 Encounter, 5 Observation` for a Bundle. */
function summary(bundleJson) {
  let bundle;
  try {
    bundle = JSON.parse(bundleJson);
  } catch {
    throw new StepFailed('sinew convert did not print one JSON Bundle');
  }
  const counts = new Map();
  for (const e of bundle.entry ?? []) {
    const type = e.resource?.resourceType ?? '?';
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  const parts = [...counts].map(([type, n]) => `${n} ${type}`).join(', ');
  return `${bundle.type} Bundle, ${bundle.entry?.length ?? 0} entries: ${parts}`;
}

async function demo() {
  if (!existsSync(join(ROOT, 'dist', 'sinew.js')) || !existsSync(join(ROOT, 'dist', 'standins.js'))) {
    say('Building the sinew command (npm ci does this)…');
    const r = await new Promise((resolve) =>
      execFile(process.execPath, ['scripts/build.mjs'], { cwd: ROOT }, (err, _o, stderr) =>
        resolve({ err, stderr }),
      ),
    );
    if (r.err) throw new StepFailed(`the build failed\n${indent(r.stderr)}`);
  }
  say('Sinew demo: the sinew command on the sample messages in channels/samples/ (made-up patients).');

  heading(1, 'Inspect: read fields by their HL7 path');
  const adtPaths = ['MSH-9', 'PID-5', 'PID-7', 'PV1-3'];
  const adtArgs = ['inspect', ...adtPaths.flatMap((p) => ['--get', p]), ADT];
  command(adtArgs);
  const adtValues = (await must(adtArgs)).stdout.trimEnd().split('\n');
  say(indent(adtPaths.map((p, i) => `${p.padEnd(10)} ${adtValues[i] ?? ''}`).join('\n')));
  const oruPaths = ['OBX[2]-3.2', 'OBX[2]-5', 'OBX[2]-6.1', 'OBX[2]-7', 'OBX[2]-8'];
  const oruArgs = ['inspect', ...oruPaths.flatMap((p) => ['--get', p]), ORU];
  command(oruArgs);
  const oruValues = (await must(oruArgs)).stdout.trimEnd().split('\n');
  say(indent(oruPaths.map((p, i) => `${p.padEnd(10)} ${oruValues[i] ?? ''}`).join('\n')));

  heading(2, 'Convert: HL7 v2 to a FHIR R4 transaction Bundle (the transformer is picked by MSH-9)');
  for (const file of [ADT, ORU]) {
    command(['convert', file]);
    say(indent(summary((await must(['convert', file])).stdout)));
  }

  heading(3, 'Start: the stand-in EHR (a FHIR server) and PMS (a REST API), then the engine');
  dataDir = mkdtempSync(join(tmpdir(), 'sinew-demo-'));
  say(`   $ node dist/standins.js --ehr-port … --pms-port …`);
  say(`   $ sinew start --channels channels --data ${dataDir}`);
  stack = await startStack({ dataDir });
  say(indent(`EHR ${stack.urls.ehr}   PMS ${stack.urls.pms}   engine ${stack.urls.engine}/ready: ready`));
  const startLine = stack.engine.stdout.split('\n').find((l) => l.includes('sinew started'));
  if (startLine) {
    const s = JSON.parse(startLine);
    say(
      indent(
        `channels ${s.channels.join(', ')}; ledger ${s.store}; queue ${s.queue}; roles ${s.roles.join(', ')}`,
      ),
    );
  }

  heading(
    4,
    'Send: a lab result, an admission and an appointment over MLLP (ACK once committed), a patient at the PMS',
  );
  for (const [file, port] of [
    [ORU, stack.ports.lab],
    [ADT, stack.ports.adt],
    [SIU, stack.ports.siu],
  ]) {
    const args = ['send', '--port', String(port), file];
    command(args);
    const sent = await sinew(args);
    say(indent(sent.stdout));
    const code = sent.stdout.trimEnd().split('\t')[3];
    if (sent.code !== 0 || code !== 'AA')
      throw new StepFailed(`expected AA, got ${code}\n${indent(sent.stderr)}`);
  }
  // The PMS as a source: a patient registered through its REST API goes to Sinew as ADT^A04.
  const patient = { mrn: 'MRN-2001', family: 'Doe', given: 'Jane', birth_date: '1990-05-01', sex: 'F' };
  say(`   $ curl -d '${JSON.stringify(patient)}' ${stack.urls.pms}/api/patients`);
  const registered = await fetch(`${stack.urls.pms}/api/patients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(patient),
  });
  if (registered.status !== 201) throw new StepFailed(`the PMS answered ${registered.status}`);
  say(indent(`201: patient ${(await registered.json()).id} stored in the PMS, ADT^A04 queued to Sinew`));

  heading(5, 'Look: what the EHR holds now (FHIR search) and what the PMS was told');
  const count = async (query) => {
    const r = await fetch(`${stack.urls.ehr}/${query}`);
    const b = await r.json();
    return b.total ?? b.entry?.length ?? 0;
  };
  const want = {
    'Patient?identifier=MRN-000123': 1,
    'Patient?identifier=MRN-2001': 1,
    DiagnosticReport: 1,
    Observation: 5,
    Encounter: 1,
    Appointment: 1,
  };
  const until = Date.now() + 15_000;
  let got = {};
  for (;;) {
    got = {};
    for (const q of Object.keys(want)) got[q] = await count(q);
    const notices = await (await fetch(`${stack.urls.pms}/api/notices`)).json();
    got.notices = Array.isArray(notices) ? notices.length : (notices.items?.length ?? 0);
    if (Object.entries(want).every(([q, n]) => got[q] >= n) && got.notices >= 1) break;
    if (Date.now() > until)
      throw new StepFailed(`the EHR/PMS did not receive everything: ${JSON.stringify(got)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const q of Object.keys(want)) say(indent(`GET /fhir/${q.padEnd(30)} ${got[q]}`));
  say(indent(`GET /api/notices (PMS)${' '.repeat(19)} ${got.notices} "results ready" notice`));
  const metrics = await (await fetch(`${stack.urls.engine}/metrics`)).text();
  const lines = metrics.split('\n').filter((l) => /^sinew_(messages_received|deliveries_sent)_total/.test(l));
  say(indent(`GET ${stack.urls.engine}/metrics\n${lines.join('\n')}`));

  heading(6, 'Reconcile: what the PMS holds against what the EHR holds, explained by the ledger');
  const reconcileArgs = ['reconcile', 'run', 'demo', '--data', dataDir];
  command(reconcileArgs);
  const reconciled = await sinew(reconcileArgs, {
    ...process.env,
    PMS_URL: stack.urls.pms,
    EHR_URL: stack.urls.ehr,
    PMS_DB_URL: `sqlite:${join(dataDir, 'pms.db')}`,
  });
  // 0: clean; 1: discrepancies found (the report says which and why); 2: the run failed.
  if (reconciled.code !== 0 && reconciled.code !== 1)
    throw new StepFailed(`sinew reconcile exited ${reconciled.code}\n${indent(reconciled.stderr)}`);
  say(indent(reconciled.stdout));

  heading(7, 'Stop: SIGTERM lets work in flight finish, then the engine exits 0');
  const { code } = await stack.stop();
  stack = undefined;
  if (code !== 0) throw new StepFailed(`sinew start exited ${code}`);
  say(indent('stopped; the ledger stays in the data folder (sinew replay, docs/engine.md)'));

  say(
    `\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s. Next: npm start (the same stack, left running), docs/engine.md.`,
  );
}

function cleanUp() {
  killChildren();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

// Interrupted: nothing of the demo is kept, and no process it started is left behind.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(signal, () => {
    process.stderr.write(`\ndemo stopped (${signal})\n`);
    cleanUp();
    process.exit(128 + constants.signals[signal]);
  });

const deadline = setTimeout(() => {
  process.stderr.write(`\ndemo failed: it took longer than ${DEADLINE_MS / 1000} s\n`);
  cleanUp();
  process.exit(1);
}, DEADLINE_MS);

try {
  await demo();
  cleanUp();
  clearTimeout(deadline);
} catch (err) {
  process.stderr.write(`\ndemo failed: ${err instanceof StepFailed ? err.message : (err?.stack ?? err)}\n`);
  cleanUp();
  clearTimeout(deadline);
  process.exitCode = 1;
}
