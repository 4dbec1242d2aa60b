// `npm run demo`: the pieces of Sinew at work on the sample messages, with no services. Each
// step runs the `sinew` command as a user would (`node bin/sinew.js …`); the demo exits 1 as
// soon as one of them does not do what it should, and gives up after 15 seconds.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'sinew.js');
const ADT = 'channels/samples/adt-a01.hl7';
const ORU = 'channels/samples/oru-r01.hl7';
const DEADLINE_MS = 15_000;
const STEP_TIMEOUT_MS = 10_000;

const started = Date.now();
let listener;
let outDir;

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
function sinew(args) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, timeout: STEP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
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

/** Starts `sinew listen` and resolves with its port once it prints `listening on HOST:PORT`. */
function startListener(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    listener = { child, stdout: '', stderr: '' };
    listener.exit = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));
    child.stdout.on('data', (d) => {
      listener.stdout += d;
      const m = /^listening on (\S+):(\d+)/.exec(listener.stdout);
      if (m) resolve({ line: listener.stdout.split('\n')[0], port: Number(m[2]) });
    });
    child.stderr.on('data', (d) => (listener.stderr += d));
    void listener.exit.then(({ code }) =>
      reject(new StepFailed(`sinew listen exited ${code}\n${indent(listener.stderr)}`)),
    );
  });
}

async function demo() {
  if (!existsSync(join(ROOT, 'dist', 'sinew.js'))) {
    say('Building the sinew command (npm install does this)…');
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

  heading(
    3,
    'Listen: an MLLP listener on a free loopback port, storing what it accepts (in a temporary folder)',
  );
  outDir = mkdtempSync(join(tmpdir(), 'sinew-demo-'));
  const listenArgs = ['listen', '--port', '0', '--out', outDir];
  command(listenArgs);
  const { line, port } = await startListener(listenArgs);
  say(indent(line));

  heading(4, 'Send: both samples over MLLP, one ACK each (file, message, MSH-10, ACK code)');
  const sendArgs = ['send', '--port', String(port), ADT, ORU];
  command(sendArgs);
  const sent = await sinew(sendArgs);
  say(indent(sent.stdout));
  const codes = sent.stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split('\t')[3]);
  if (sent.code !== 0 || codes.length !== 2 || codes.some((c) => c !== 'AA')) {
    throw new StepFailed(`expected AA for both messages, got ${codes.join(', ')}\n${indent(sent.stderr)}`);
  }

  heading(5, 'What the listener printed (no patient data) and stored');
  const until = Date.now() + 5_000;
  while (listener.stdout.trimEnd().split('\n').length < 3 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  say(indent(listener.stdout.split('\n').slice(1).join('\n')));
  const stored = readdirSync(outDir).sort();
  if (stored.length !== 2) throw new StepFailed(`expected 2 stored messages, found ${stored.length}`);
  say(indent(stored.map((n) => `${join(outDir, n)}  (${statSync(join(outDir, n)).size} bytes)`).join('\n')));
  const storedArgs = ['inspect', '--get', 'MSH-9', '--get', 'MSH-10', join(outDir, stored[0])];
  command(storedArgs);
  say(indent((await must(storedArgs)).stdout));

  heading(6, 'Stop: SIGTERM lets messages in flight finish, then the listener exits 0');
  say('   $ kill -TERM <listener>');
  listener.child.kill('SIGTERM');
  const { code } = await listener.exit;
  say(indent(listener.stderr));
  listener = undefined;
  if (code !== 0) throw new StepFailed(`sinew listen exited ${code}`);

  say(
    `\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s. Next: sinew --help, docs/mllp.md, docs/transformers.md.`,
  );
}

function cleanUp() {
  if (listener && listener.child.exitCode === null) listener.child.kill('SIGKILL');
  if (outDir) rmSync(outDir, { recursive: true, force: true });
}

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
