/**
 * Conversion benchmark: `node bench/run.mjs convert [--runs 5] [--seconds 1] [--only TEXT]`.
 *
 * ADT^A01 → FHIR transaction Bundle and ORU^R01 with 50 OBX → Bundle with the built-in
 * transformers (parse included), then the same with strict R4 validation of the output.
 * Figures are conversions per CPU-second (process.cpuUsage), the median of several runs, on
 * one thread (so per core).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import { validateFhir } from '@sinew/validation';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
};
const RUNS = Math.max(1, arg('--runs', 5));
const SECONDS = Math.max(0.05, arg('--seconds', 1));

const root = join(BUILT_IN_TRANSFORMERS, '..');
const adt = readFileSync(join(root, 'channels', 'samples', 'adt-a01.hl7'));

/** The sample ORU^R01 with its OBX repeated up to 50 results (set ids renumbered). */
function oruWith50Obx(): Buffer {
  const lines = readFileSync(join(root, 'channels', 'samples', 'oru-r01.hl7'), 'latin1')
    .split(/\r\n|\r|\n/)
    .filter(Boolean);
  const head = lines.filter((l) => !l.startsWith('OBX') && !l.startsWith('NTE'));
  const obx = lines.filter((l) => l.startsWith('OBX'));
  const out = [...head];
  for (let i = 0; i < 50; i++)
    out.push((obx[i % obx.length] as string).replace(/^OBX\|\d+\|/, `OBX|${i + 1}|`));
  return Buffer.from(out.join('\r') + '\r', 'latin1');
}
const oru = oruWith50Obx();

const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
const cpu = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
let sink = 0;
function rate(op: () => number): number {
  let n = 0;
  let batch = 4;
  const start = cpu();
  let elapsed = 0;
  while (elapsed < SECONDS) {
    for (let i = 0; i < batch; i++) sink += op();
    n += batch;
    elapsed = cpu() - start;
    if (elapsed < SECONDS / 20) batch *= 2;
  }
  return n / elapsed;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function convert(bytes: Buffer): unknown {
  const msg = Hl7Message.parse(bytes);
  return library.forMessageType(msg.messageType, 'fhir').run(msg);
}

const cases: Array<[string, () => number]> = [
  ['ADT^A01 → Bundle', () => (convert(adt) as { entry: unknown[] }).entry.length],
  ['ORU^R01 (50 OBX) → Bundle', () => (convert(oru) as { entry: unknown[] }).entry.length],
  ['ADT^A01 → Bundle + R4 validation', () => validateFhir(convert(adt)).length + 1],
  ['ORU^R01 (50 OBX) → Bundle + R4 validation', () => validateFhir(convert(oru)).length + 1],
];

validateFhir(convert(adt)); // loads the definitions before timing
console.log(`machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, node ${process.version}`);
console.log(
  `ADT ${adt.length} bytes; ORU ${oru.length} bytes, ${(convert(oru) as { entry: unknown[] }).entry.length} resources`,
);
console.log(`runs: ${RUNS} × ≥${SECONDS} s CPU each; median conversions per CPU-second\n`);
console.log('| case | conversions / CPU-s (median) | runs |');
console.log('|---|---:|---|');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '') : '';
for (const [name, op] of cases.filter(([n]) => !only || n.toLowerCase().includes(only.toLowerCase()))) {
  op();
  const rates = Array.from({ length: RUNS }, () => rate(op));
  console.log(
    `| ${name} | ${Math.round(median(rates)).toLocaleString('en-US')} | ${rates.map((r) => Math.round(r)).join(', ')} |`,
  );
}
if (sink < 0) console.log(sink);
