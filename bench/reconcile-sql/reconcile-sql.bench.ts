/**
 * Reading two PostgreSQL tables through the `sql` adapter: `node bench/run.mjs reconcile-sql
 * [--rows 1000000] [--runs 3] [--url postgres://…] [--only stream|checksum]`.
 *
 * Creates a database of its own (`recon_<random>`, dropped at the end) on `--url`,
 * `DATABASE_URL` or postgres://postgres@127.0.0.1:5432/postgres, with three tables of N rows
 * (mrn primary key, 5 compared fields: family, given, birth_date, sex, amount) loaded with
 * `unnest` in batches: `src`; `dst`, the same with 1 % differences (0.7 % changed fields,
 * 0.15 % missing, 0.15 % extra); `dst_few`, the same with 100 differences. Then, `--runs`
 * times each, in a process of its own:
 *   (a) stream: both sides of src/dst read through the adapter at once (a server-side cursor
 *       each), every record counted: rows per second and peak RSS (VmHWM);
 *   (b) checksum: sqlChecksumDiff(src, dst) and (src, dst_few), every yielded range
 *       consumed: wall time, rows fetched, rounds, queries, peak RSS.
 * Prints the medians.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import {
  sqlAdapter,
  sqlChecksumDiff,
  type ChecksumDiffStats,
  type ReadContext,
  type SideReader,
} from '@sinew/reconcile';
import { createPostgresDatabase } from '../../libs/reconcile/src/adapters/testing';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};

const FIELDS = ['family', 'given', 'birth_date', 'sex', 'amount'];
const ctx: Omit<ReadContext, 'side'> = {
  entity: 'patients',
  period: { label: 'all' },
  fields: FIELDS,
  withStatus: false,
  signal: new AbortController().signal,
  baseDir: process.cwd(),
};

function reader(url: string, table: string): SideReader {
  return sqlAdapter.create(
    { type: 'sql', url },
    { query: `SELECT mrn AS key, family, given, birth_date, sex, amount FROM ${table}` },
    { systemName: table },
  );
}

function peakRssMb(): number {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return Math.round(Number(hwm ?? 0) / 1024);
}

/** One measurement, in this process (started by the parent below). */
async function child(mode: string, url: string, target: string): Promise<void> {
  const started = performance.now();
  if (mode === 'stream') {
    let rows = 0;
    const count = async (side: 'source' | 'target', table: string) => {
      for await (const record of reader(url, table).read({ ...ctx, side })) if (record.key) rows += 1;
    };
    await Promise.all([count('source', 'src'), count('target', target)]);
    const seconds = (performance.now() - started) / 1000;
    console.log(
      JSON.stringify({ seconds, rows, rowsPerSecond: Math.round(rows / seconds), peakRssMb: peakRssMb() }),
    );
    return;
  }
  const stats = {} as ChecksumDiffStats;
  let ranges = 0;
  for await (const chunk of sqlChecksumDiff(reader(url, 'src'), reader(url, target), ctx, { stats })) {
    if (chunk.source.length + chunk.target.length > 0) ranges += 1;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      seconds,
      ranges,
      rowsFetched: stats.rowsFetched.source + stats.rowsFetched.target,
      rowsTotal: stats.rowsTotal.source + stats.rowsTotal.target,
      levels: stats.levels,
      queries: stats.queries,
      peakRssMb: peakRssMb(),
    }),
  );
}

function measure(mode: string, url: string, target: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      [process.argv[1] as string, '--child', mode, '--url', url, '--target', target],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('error', reject);
    proc.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop() as string))
        : reject(new Error(`${mode} run exited ${code}`)),
    );
  });
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function load(exec: (sql: string, values?: unknown[]) => Promise<void>, n: number): Promise<void> {
  for (const table of ['src', 'dst', 'dst_few']) {
    await exec(
      `CREATE TABLE ${table} (mrn text PRIMARY KEY, family text, given text, birth_date date, sex text, amount numeric(10,2))`,
    );
  }
  const random = rand(42);
  const BATCH = 50_000;
  const sexes = ['F', 'M', 'O', 'U'];
  for (let start = 0; start < n; start += BATCH) {
    const cols: unknown[][] = [[], [], [], [], [], []];
    for (let i = start; i < Math.min(n, start + BATCH); i++) {
      cols[0]?.push(`MRN${String(i).padStart(8, '0')}`);
      cols[1]?.push(`FAMILY${Math.floor(random() * 50_000)}`);
      cols[2]?.push(`Given${Math.floor(random() * 5_000)}`);
      cols[3]?.push(
        new Date(Date.UTC(1930, 0, 1) + Math.floor(random() * 33_000) * 86_400_000)
          .toISOString()
          .slice(0, 10),
      );
      cols[4]?.push(sexes[Math.floor(random() * 4)]);
      cols[5]?.push((Math.floor(random() * 100_000) / 100).toFixed(2));
    }
    await exec(
      'INSERT INTO src SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[], $6::numeric[])',
      cols,
    );
  }
  await exec('INSERT INTO dst SELECT * FROM src');
  await exec('INSERT INTO dst_few SELECT * FROM src');
  // 1 %: 0.7 % changed fields, 0.15 % missing, 0.15 % only in the target.
  await exec(`UPDATE dst SET family = family || 'X' WHERE abs(hashtext(mrn)) % 1000 BETWEEN 0 AND 3`);
  await exec(`UPDATE dst SET amount = amount + 1 WHERE abs(hashtext(mrn)) % 1000 IN (4, 5, 6)`);
  await exec(`DELETE FROM dst WHERE abs(hashtext(mrn)) % 1000 IN (7)`);
  await exec(`DELETE FROM dst WHERE abs(hashtext(mrn)) % 2000 = 1999`);
  await exec(
    `INSERT INTO dst SELECT 'NEW' || g, 'FAMILY', 'Given', DATE '2000-01-01', 'F', 1 FROM generate_series(1, ${Math.round(n * 0.0015)}) g`,
  );
  await exec(
    `UPDATE dst_few SET given = given || 'Y' WHERE mrn IN (SELECT mrn FROM dst_few ORDER BY md5(mrn) LIMIT 100)`,
  );
  await exec('VACUUM ANALYZE src');
  await exec('VACUUM ANALYZE dst');
  await exec('VACUUM ANALYZE dst_few');
}

async function main(): Promise<void> {
  if (args.includes('--child')) return child(arg('child', ''), arg('url', ''), arg('target', 'dst'));
  const n = Number(arg('rows', '1000000'));
  const runs = Math.max(1, Number(arg('runs', '3')));
  const server = arg(
    'url',
    process.env.DATABASE_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/postgres',
  );
  console.log(
    `reconcile-sql: ${n.toLocaleString('en')} rows per table, ${runs} runs; ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const db = await createPostgresDatabase(server);
  try {
    const loadStart = performance.now();
    await load(db.exec, n);
    const counts = await (async () => {
      const { Client } = await import('pg');
      const c = new Client({ connectionString: db.url });
      await c.connect();
      const r = await c.query(
        'SELECT (SELECT count(*) FROM src) s, (SELECT count(*) FROM dst) d, (SELECT count(*) FROM dst_few) f, (SELECT count(*) FROM src FULL JOIN dst USING (mrn) WHERE src IS DISTINCT FROM dst OR src.mrn IS NULL OR dst.mrn IS NULL) diff',
      );
      await c.end();
      return r.rows[0] as Record<string, string>;
    })();
    console.log(
      `loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s: src ${counts.s}, dst ${counts.d} (${counts.diff} keys differ), dst_few ${counts.f} (100 differ)`,
    );

    const report = async (label: string, mode: string, target: string) => {
      const results: Array<Record<string, number>> = [];
      for (let i = 0; i < runs; i++) results.push(await measure(mode, db.url, target));
      const keys = Object.keys(results[0] ?? {});
      const med = Object.fromEntries(keys.map((k) => [k, median(results.map((r) => r[k] as number))]));
      console.log(
        `${label}: median ${(med.seconds as number).toFixed(2)} s (runs ${results.map((r) => (r.seconds as number).toFixed(2)).join(', ')}); ` +
          keys
            .filter((k) => k !== 'seconds')
            .map((k) => `${k} ${med[k]}`)
            .join(', '),
      );
    };
    const only = arg('only', '');
    if (only !== 'checksum') await report('(a) stream src + dst through the sql adapter', 'stream', 'dst');
    if (only !== 'stream') {
      await report('(b) checksum pushdown src/dst (1 % differ)', 'checksum', 'dst');
      await report('(b) checksum pushdown src/dst_few (100 differ)', 'checksum', 'dst_few');
    }
  } finally {
    await db.drop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
