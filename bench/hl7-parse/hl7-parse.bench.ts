/**
 * HL7 v2 parse benchmark: `node bench/run.mjs hl7-parse [--runs 5] [--seconds 1] [--only adt,oru,doc]`.
 *
 * Each case is run repeatedly for at least `--seconds` of CPU time (process.cpuUsage, user +
 * system), `--runs` times after a warm-up, the cases taking turns; the table gives the median
 * rate in messages per CPU-second, which is per core since the benchmark runs on one thread.
 * The exit status is 1 when a case misses its target.
 */
import { cpus } from 'node:os';
import { Hl7Message } from '@sinew/hl7v2';
import { adtA01, oruR01, oruWithDocument } from './messages';

interface Options {
  runs: number;
  seconds: number;
  only: Set<string> | undefined;
}

function options(argv: string[]): Options {
  const out: Options = { runs: 5, seconds: 1, only: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--runs' && value) out.runs = Math.max(1, Number.parseInt(value, 10));
    else if (arg === '--seconds' && value) out.seconds = Math.max(0.05, Number(value));
    else if (arg === '--only' && value) out.only = new Set(value.split(','));
    else {
      console.error(`unknown argument ${String(arg)}`);
      console.error('usage: node bench/run.mjs hl7-parse [--runs 5] [--seconds 1] [--only adt,oru,doc]');
      process.exit(2);
    }
    i++;
  }
  return out;
}

/** Keeps results alive so that the work cannot be optimised away. */
let _sink = 0;

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Operations per CPU-second of one run lasting at least `seconds` of CPU time. */
function measure(op: () => number, seconds: number): number {
  let n = 0;
  let batch = 16;
  const start = cpuSeconds();
  let elapsed = 0;
  while (elapsed < seconds) {
    for (let i = 0; i < batch; i++) _sink += op();
    n += batch;
    elapsed = cpuSeconds() - start;
    if (elapsed < seconds / 20) batch *= 2;
  }
  return n / elapsed;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

interface Case {
  key: string;
  name: string;
  bytes: number;
  op: () => number;
  /** Expected value of the reads, checked before timing. */
  check: () => void;
  target?: number;
}

function reads(bytes: Buffer, paths: string[]): () => number {
  return () => {
    const msg = Hl7Message.parse(bytes);
    let n = 0;
    for (const p of paths) n += msg.get(p).length;
    return n;
  };
}

function edit(bytes: Buffer, path: string, value: string): () => number {
  return () => {
    const msg = Hl7Message.parse(bytes);
    msg.set(path, value);
    return msg.toBuffer().length;
  };
}

function expectValues(bytes: Buffer, want: Record<string, string>): () => void {
  return () => {
    const msg = Hl7Message.parse(bytes);
    for (const [path, value] of Object.entries(want)) {
      const got = msg.get(path);
      if (got !== value) throw new Error(`${path}: expected ${value}, got ${got.slice(0, 40)}`);
    }
  };
}

const adt = adtA01();
const oru = oruR01();
const doc = oruWithDocument();
const ADT_PATHS = ['MSH-10', 'PID-3.1', 'PID-5.1', 'PID-7', 'PV1-19'];
const ORU_PATHS = ['MSH-10', 'PID-3.1', 'OBR-4.1', 'OBX[25]-5', 'OBX[50]-5'];

const cases: Case[] = [
  {
    key: 'adt',
    name: 'ADT^A01: parse + 5 reads',
    bytes: adt.length,
    op: reads(adt, ADT_PATHS),
    check: expectValues(adt, {
      'MSH-10': 'MSG20260314083015482',
      'PID-5.1': 'Whitaker',
      'PID-7': '19570622',
    }),
    target: 150_000,
  },
  {
    key: 'adt',
    name: 'ADT^A01: parse + edit PID-5.1 + toBuffer',
    bytes: adt.length,
    op: edit(adt, 'PID-5.1', 'Whitaker-Price'),
    check: () => {
      const msg = Hl7Message.parse(adt).set('PID-5.1', 'Whitaker-Price');
      if (Hl7Message.parse(msg.toBuffer()).get('PID-5.1') !== 'Whitaker-Price') throw new Error('edit lost');
    },
  },
  {
    key: 'oru',
    name: 'ORU^R01 (50 OBX): parse + 5 reads',
    bytes: oru.length,
    op: reads(oru, ORU_PATHS),
    check: expectValues(oru, { 'OBR-4.1': '24323-8', 'OBX[25]-5': '4.16', 'OBX[50]-5': '0.89' }),
    target: 80_000,
  },
  {
    key: 'oru',
    name: 'ORU^R01 (50 OBX): parse + edit OBX[25]-5 + toBuffer',
    bytes: oru.length,
    op: edit(oru, 'OBX[25]-5', '4.20'),
    check: () => {
      const msg = Hl7Message.parse(oru).set('OBX[25]-5', '4.20');
      if (Hl7Message.parse(msg.toBuffer()).get('OBX[25]-5') !== '4.20') throw new Error('edit lost');
    },
  },
  {
    key: 'doc',
    name: '100 KB OBX-5: parse + read OBX-5.5',
    bytes: doc.length,
    op: () => Hl7Message.parse(doc).get('OBX-5.5').length,
    check: () => {
      if (Hl7Message.parse(doc).get('OBX-5.5').length !== 100 * 1024) throw new Error('OBX-5.5 misread');
    },
  },
  {
    key: 'doc',
    name: '100 KB OBX-5: Buffer copy + toString (reference)',
    bytes: doc.length,
    op: () => Buffer.from(doc).toString('utf8').length,
    check: () => undefined,
  },
];

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function main(): void {
  const opts = options(process.argv.slice(2));
  const selected = cases.filter((c) => !opts.only || opts.only.has(c.key));
  const cpu = cpus();
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`);
  console.log(
    `method: ${opts.runs} runs of ≥ ${opts.seconds} s CPU per case, taken in turns after a warm-up; median shown\n`,
  );

  // Runs go round the cases (run 1 of each, then run 2 of each …) so that a slower spell of a
  // shared machine falls on all of them, and the 100 KB parse and copy stay comparable.
  for (const c of selected) {
    c.check();
    measure(c.op, Math.min(0.5, opts.seconds)); // warm-up: let the JIT settle
  }
  const runs = new Map<Case, number[]>(selected.map((c) => [c, []]));
  for (let r = 0; r < opts.runs; r++) {
    for (const c of selected) runs.get(c)?.push(measure(c.op, opts.seconds));
  }

  const rows: string[][] = [];
  const rates = new Map<string, number>();
  let missed = false;
  for (const c of selected) {
    const all = runs.get(c) ?? [];
    const med = median(all);
    rates.set(c.name, med);
    const verdict =
      c.target === undefined ? '' : med >= c.target ? `≥ ${fmt(c.target)} ✓` : `≥ ${fmt(c.target)} ✗`;
    if (c.target !== undefined && med < c.target) missed = true;
    rows.push([
      c.name,
      `${(c.bytes / 1024).toFixed(1)} KB`,
      fmt(med),
      `${fmt(Math.min(...all))}–${fmt(Math.max(...all))}`,
      (1e6 / med).toFixed(2),
      verdict,
    ]);
  }
  printTable(['case', 'size', 'msg/CPU-s (median)', 'range', 'µs/msg', 'target'], rows);

  const parseDoc = rates.get('100 KB OBX-5: parse + read OBX-5.5');
  const copyDoc = rates.get('100 KB OBX-5: Buffer copy + toString (reference)');
  if (parseDoc && copyDoc) {
    console.log(
      `\n100 KB OBX-5: parse + read costs ${(copyDoc / parseDoc).toFixed(2)}× a Buffer copy + toString`,
    );
  }
  if (missed) process.exitCode = 1;
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
  console.log(line(head));
  console.log(
    `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
  );
  for (const r of rows) console.log(line(r));
}

main();
