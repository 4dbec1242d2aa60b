/**
 * Conversion benchmark: `node bench/run.mjs convert [--runs 5] [--seconds 1] [--only TEXT]`.
 *
 * ADT^A01 → FHIR transaction Bundle, ORU^R01 with 10 and with 50 OBX → Bundle, with the
 * built-in transformers (parse included), then the same with strict R4 validation of the
 * output. Figures are conversions per CPU-second (process.cpuUsage), the median of several runs
 * taken in turns after a warm-up, on one thread (so per core). The exit status is 1 when a case
 * misses its target.
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

/** The sample ORU^R01 with its OBX repeated up to `count` results (set ids renumbered). */
function oruWithObx(count: number): Buffer {
  const lines = readFileSync(join(root, 'channels', 'samples', 'oru-r01.hl7'), 'latin1')
    .split(/\r\n|\r|\n/)
    .filter(Boolean);
  const head = lines.filter((l) => !l.startsWith('OBX') && !l.startsWith('NTE'));
  const obx = lines.filter((l) => l.startsWith('OBX'));
  const out = [...head];
  for (let i = 0; i < count; i++)
    out.push((obx[i % obx.length] as string).replace(/^OBX\|\d+\|/, `OBX|${i + 1}|`));
  return Buffer.from(out.join('\r') + '\r', 'latin1');
}
const oru10 = oruWithObx(10);
const oru50 = oruWithObx(50);

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
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function convert(bytes: Buffer): { entry: unknown[] } {
  const msg = Hl7Message.parse(bytes);
  return library.forMessageType(msg.messageType, 'fhir').run(msg) as { entry: unknown[] };
}

interface Case {
  name: string;
  op: () => number;
  target?: number;
}
const cases: Case[] = [
  { name: 'ADT^A01 → Bundle', op: () => convert(adt).entry.length, target: 10_000 },
  { name: 'ORU^R01 (10 OBX) → Bundle', op: () => convert(oru10).entry.length },
  { name: 'ORU^R01 (50 OBX) → Bundle', op: () => convert(oru50).entry.length, target: 1_000 },
  { name: 'ADT^A01 → Bundle + R4 validation', op: () => validateFhir(convert(adt)).length + 1 },
  { name: 'ORU^R01 (10 OBX) → Bundle + R4 validation', op: () => validateFhir(convert(oru10)).length + 1 },
  { name: 'ORU^R01 (50 OBX) → Bundle + R4 validation', op: () => validateFhir(convert(oru50)).length + 1 },
];

validateFhir(convert(adt)); // loads the definitions before timing
console.log(`machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, node ${process.version}`);
console.log(
  `ADT ${adt.length} bytes, ${convert(adt).entry.length} resources; ORU (10 OBX) ${oru10.length} bytes, ` +
    `${convert(oru10).entry.length} resources; ORU (50 OBX) ${oru50.length} bytes, ${convert(oru50).entry.length} resources`,
);
console.log(`runs: ${RUNS} × ≥${SECONDS} s CPU per case, taken in turns after a warm-up; median shown\n`);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '') : '';
const picked = cases.filter((c) => !only || c.name.toLowerCase().includes(only.toLowerCase()));
for (const c of picked) rate(c.op); // warm-up
const rates = picked.map(() => [] as number[]);
for (let r = 0; r < RUNS; r++) picked.forEach((c, i) => rates[i]?.push(rate(c.op)));

console.log('| case | conversions / CPU-s (median) | µs / conversion | runs | target |');
console.log('|---|---:|---:|---|---|');
let missed = false;
picked.forEach((c, i) => {
  const rs = rates[i] as number[];
  const med = median(rs);
  const target = c.target === undefined ? '' : `≥ ${fmt(c.target)} ${med >= c.target ? '✓' : '✗'}`;
  if (c.target !== undefined && med < c.target) missed = true;
  console.log(
    `| ${c.name} | ${fmt(med)} | ${(1e6 / med).toFixed(1)} | ${rs.map(fmt).join(', ')} | ${target} |`,
  );
});
if (sink < 0) console.log(sink);
if (missed) process.exitCode = 1;
