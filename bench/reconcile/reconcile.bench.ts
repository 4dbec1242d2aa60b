/**
 * Reconciliation benchmark (the comparison, adapters excluded):
 * `node bench/run.mjs reconcile [--records 1000000] [--runs 3] [--max-in-memory 200000]`.
 *
 * Each run is a fresh child process that generates both sides in-process (`--records` records per
 * side, 5 compared fields: two names with normalisers, a date of birth written MM/DD/YYYY on one
 * side and ISO on the other, a coded sex mapped between code sets, an amount with a tolerance) with
 * 1 % planted differences (records missing on each side, field mismatches, duplicates on each
 * side), compares them with `compareEntity` (sorted runs spilled to disk, merged, merge-joined)
 * and checks that exactly the planted differences were found. Figures per run: wall time, CPU time
 * (user + system) and peak RSS of the child; the medians are printed. The exit status is 1 when a
 * median misses its target (15 s, 300 MB) or a run finds other differences than were planted.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { compareEntity, DEFAULT_MAX_IN_MEMORY, type EntityConfig, type SideRecord } from '@sinew/reconcile';

const TARGET_MS = 15_000;
const TARGET_RSS_MB = 300;

interface Options {
  records: number;
  runs: number;
  maxInMemory: number;
  child: boolean;
}

function options(argv: string[]): Options {
  const out: Options = { records: 1_000_000, runs: 3, maxInMemory: DEFAULT_MAX_IN_MEMORY, child: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = Number.parseInt(argv[i + 1] ?? '', 10);
    if (a === '--child') {
      out.child = true;
      continue;
    }
    if (a === '--records' && value > 0) out.records = value;
    else if (a === '--runs' && value > 0) out.runs = value;
    else if (a === '--max-in-memory' && value > 0) out.maxInMemory = value;
    else {
      console.error(
        `unknown argument ${String(a)}\nusage: node bench/run.mjs reconcile [--records 1000000] [--runs 3] [--max-in-memory 200000]`,
      );
      process.exit(2);
    }
    i++;
  }
  return out;
}

const ENTITY: EntityConfig = {
  name: 'patients',
  identity: 'mrn',
  identityNormalise: ['trim', 'upper'],
  status: false,
  fields: [
    {
      name: 'family',
      type: 'string',
      normalise: ['trim', 'upper'],
      sourceFormat: 'auto',
      targetFormat: 'auto',
      timezone: 'UTC',
    },
    {
      name: 'given',
      type: 'string',
      normalise: ['trim', 'upper', 'strip_accents'],
      sourceFormat: 'auto',
      targetFormat: 'auto',
      timezone: 'UTC',
    },
    {
      name: 'birth_date',
      type: 'date',
      normalise: ['trim'],
      sourceFormat: 'MM/DD/YYYY',
      targetFormat: 'auto',
      timezone: 'UTC',
    },
    {
      name: 'sex',
      type: 'string',
      normalise: ['trim'],
      sourceFormat: 'auto',
      targetFormat: 'auto',
      timezone: 'UTC',
      map: { F: 'female', M: 'male', O: 'other', U: 'unknown' },
    },
    {
      name: 'balance',
      type: 'number',
      normalise: ['trim'],
      sourceFormat: 'auto',
      targetFormat: 'auto',
      timezone: 'UTC',
      tolerance: 0.01,
    },
  ],
  source: { system: 'pms', type: 'bench', settings: {} },
  target: { system: 'ehr', type: 'bench', settings: {} },
  alerts: {},
  critical: [],
};

const FAMILIES = [
  'Smith',
  'Okafor',
  'García',
  'Nguyen',
  'Müller',
  'Kowalski',
  'Haddad',
  'Silva',
  'Tanaka',
  'Brown',
];
const GIVENS = ['Ann', 'José', 'Li', 'Fatima', 'Noah', 'Zoë', 'Omar', 'Mia', 'Ivan', 'Grace', 'Amara'];
const SEX_CODES = ['F', 'M', 'O', 'U'];
const SEX_TARGET: Record<string, string> = { F: 'female', M: 'male', O: 'other', U: 'unknown' };

/**
 * Planted differences by index: every 100th record is one of five kinds, so 1 % in all:
 * missing in the target, missing in the source, a field mismatch, duplicated in the source,
 * duplicated in the target.
 */
function planted(
  i: number,
):
  | 'missing_in_target'
  | 'missing_in_source'
  | 'field_mismatch'
  | 'duplicate_in_source'
  | 'duplicate_in_target'
  | undefined {
  if (i % 100 !== 37) return undefined;
  return (
    [
      'missing_in_target',
      'missing_in_source',
      'field_mismatch',
      'duplicate_in_source',
      'duplicate_in_target',
    ] as const
  )[Math.floor(i / 100) % 5];
}

function person(i: number) {
  const year = 1930 + (i % 90);
  const month = 1 + (i % 12);
  const day = 1 + (i % 28);
  return {
    mrn: `MRN${String(i).padStart(8, '0')}`,
    family: FAMILIES[i % FAMILIES.length] as string,
    given: GIVENS[(i >> 3) % GIVENS.length] as string,
    year,
    month,
    day,
    sex: SEX_CODES[i % 4] as string,
    balance: (i % 50_000) / 100,
  };
}

const two = (n: number) => String(n).padStart(2, '0');

/** Visits 0..n-1 in a scrambled order (a stride coprime with n), as a system's export would. */
function* order(n: number, stride: number): Generator<number> {
  let s = stride % n;
  while (gcd(s, n) !== 1) s++;
  for (let k = 0, i = 0; k < n; k++, i = (i + s) % n) yield i;
}
function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Records per page handed to the comparison, as an adapter reading a page of a query would. */
const PAGE = 1000;

async function* sourceSide(n: number): AsyncGenerator<SideRecord[]> {
  let page: SideRecord[] = [];
  for (const i of order(n, 7919)) {
    if (page.length >= PAGE) {
      yield page;
      page = [];
    }
    const kind = planted(i);
    if (kind === 'missing_in_source') continue;
    const p = person(i);
    const rec: SideRecord = {
      key: ` ${p.mrn.toLowerCase()} `,
      fields: {
        family: p.family,
        given: `${p.given} `,
        birth_date: `${two(p.month)}/${two(p.day)}/${p.year}`,
        sex: p.sex,
        balance: p.balance.toFixed(2),
      },
      updatedAt: '2026-12-06T10:00:00Z',
    };
    page.push(rec);
    if (kind === 'duplicate_in_source') page.push({ ...rec, fields: { ...rec.fields } });
  }
  yield page;
}

async function* targetSide(n: number): AsyncGenerator<SideRecord[]> {
  let page: SideRecord[] = [];
  for (const i of order(n, 104_729)) {
    if (page.length >= PAGE) {
      yield page;
      page = [];
    }
    const kind = planted(i);
    if (kind === 'missing_in_target') continue;
    const p = person(i);
    const rec: SideRecord = {
      key: p.mrn,
      fields: {
        family: kind === 'field_mismatch' ? `${p.family}-Other` : p.family.toUpperCase(),
        given: p.given.normalize('NFD').replace(/\p{M}+/gu, ''),
        birth_date: `${p.year}-${two(p.month)}-${two(p.day)}`,
        sex: SEX_TARGET[p.sex] as string,
        // Within the tolerance of 0.01.
        balance: Math.round((p.balance + (i % 2 ? 0.01 : 0)) * 100) / 100,
      },
      ref: `Patient/${i}`,
    };
    page.push(rec);
    if (kind === 'duplicate_in_target') page.push(rec);
  }
  yield page;
}

interface RunFigures {
  wallMs: number;
  cpuMs: number;
  maxRssMb: number;
  found: Record<string, number>;
  expected: Record<string, number>;
  matched: number;
}

async function child(o: Options): Promise<void> {
  const expected: Record<string, number> = {};
  for (let i = 0; i < o.records; i++) {
    const k = planted(i);
    if (k) expected[k] = (expected[k] ?? 0) + 1;
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const c = compareEntity(sourceSide(o.records), targetSide(o.records), ENTITY, {
    maxInMemory: o.maxInMemory,
  });
  const found: Record<string, number> = {};
  for await (const d of c.differences) found[d.kind] = (found[d.kind] ?? 0) + 1;
  const result = await c.result;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const figures: RunFigures = {
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    found,
    expected,
    matched: result.matched,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function parent(o: Options): void {
  const script = process.argv[1] as string;
  const runs: RunFigures[] = [];
  console.log(
    `reconcile: ${o.records.toLocaleString('en-US')} records per side, 5 compared fields, 1 % planted differences, ` +
      `max ${o.maxInMemory.toLocaleString('en-US')} rows in memory per side; ${o.runs} runs`,
  );
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`,
  );
  let wrong = false;
  for (let r = 0; r < o.runs; r++) {
    const res = spawnSync(
      process.execPath,
      [
        ...process.execArgv,
        script,
        '--child',
        '--records',
        String(o.records),
        '--max-in-memory',
        String(o.maxInMemory),
      ],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    if (res.status !== 0) {
      console.error(`run ${r + 1} failed (${String(res.status ?? res.signal)}): ${res.stderr}`);
      process.exit(1);
    }
    const f = JSON.parse(res.stdout.trim().split('\n').pop() as string) as RunFigures;
    runs.push(f);
    const same =
      JSON.stringify(Object.entries(f.found).sort()) === JSON.stringify(Object.entries(f.expected).sort());
    if (!same) wrong = true;
    console.log(
      `run ${r + 1}: ${(f.wallMs / 1000).toFixed(2)} s wall, ${(f.cpuMs / 1000).toFixed(2)} s CPU, ${f.maxRssMb.toFixed(0)} MB peak RSS; ` +
        `${f.matched.toLocaleString('en-US')} matched; found ${JSON.stringify(f.found)}${same ? '' : ` but planted ${JSON.stringify(f.expected)}`}`,
    );
  }
  const wall = median(runs.map((r) => r.wallMs));
  const cpu = median(runs.map((r) => r.cpuMs));
  const rss = median(runs.map((r) => r.maxRssMb));
  console.log(
    `median: ${(wall / 1000).toFixed(2)} s wall (target < ${TARGET_MS / 1000} s), ${(cpu / 1000).toFixed(2)} s CPU, ` +
      `${rss.toFixed(0)} MB peak RSS (target < ${TARGET_RSS_MB} MB)`,
  );
  if (wrong) console.error('some run found other differences than were planted');
  if (wrong || wall >= TARGET_MS || rss >= TARGET_RSS_MB) process.exitCode = 1;
}

const o = options(process.argv.slice(2));
if (o.child) void child(o);
else parent(o);
