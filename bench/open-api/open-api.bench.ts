/**
 * Clinic data hub benchmark: `node bench/run.mjs open-api [--patients 100000]
 * [--observations 10] [--queries 500] [--concurrency 50] [--backend sqlite|postgres|both]
 * [--pool 10]` (PostgreSQL connections).
 *
 * Seeds the hub through its own `write()`: Bundles of 200 patients, each with
 * `--observations` lab Observations (a LOINC code out of ten, a date within two years),
 * as the store destination would store them. Then, in process, with `--concurrency` searches
 * in flight at once, times `--queries` searches of each kind:
 *   - Patient by identifier (`identifier=system|value`);
 *   - Patient by name and birthdate (`name=<family prefix>&birthdate=<day>`);
 *   - Observation by patient, code and date (`patient=…&code=system|code&date=ge…`);
 * p50 and p95 in ms (after 100 untimed searches of the kind); and `exportResources` of every Patient and Observation, in resources
 * per second. Targets: p95 under 25 ms, export over 20,000 resources/s. PostgreSQL:
 * DATABASE_URL, else the local server, in a schema of its own, dropped at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openHub, type FhirResource, type HubSearchRequest, type HubStore } from '@sinew/hub';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { withTestSchema } from '../../test/support/postgres';

const TARGET_P95_MS = 25;
const TARGET_EXPORT_PER_S = 20_000;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const PATIENTS = Number(arg('patients', '100000'));
const OBSERVATIONS = Number(arg('observations', '10'));
const QUERIES = Number(arg('queries', '500'));
const CONCURRENCY = Number(arg('concurrency', '50'));
const BACKEND = arg('backend', 'both');
const POOL = Number(arg('pool', '10'));
const PER_BUNDLE = 200;
const MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.19.5';
const CODES = [
  '2345-7',
  '2160-0',
  '2951-2',
  '2823-3',
  '2075-0',
  '1963-8',
  '3094-0',
  '17861-6',
  '2885-2',
  '1751-7',
];
const FAMILIES = [
  'Smith',
  'Jones',
  'Müller',
  'García',
  'Nguyen',
  'Kowalski',
  'Okafor',
  'Rossi',
  'Dubois',
  'Tanaka',
  'Silva',
  'Novak',
  'Larsen',
  'Haddad',
  'Ivanova',
  'Byrne',
  'Costa',
  'Fischer',
  'Morales',
  'Patel',
];
const GIVEN = ['Ann', 'Ben', 'Chloé', 'Dev', 'Eva', 'Finn', 'Gita', 'Hugo', 'Ines', 'Jon', 'Kai', 'Lena'];
const DAY = 86_400_000;
const BIRTH_START = Date.UTC(1930, 0, 1);
const OBS_START = Date.UTC(2025, 0, 1);

/** A deterministic generator (mulberry32), so both backends hold the same data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const mrn = (p: number) => `MRN${String(p).padStart(7, '0')}`;
/** Each patient's family name (with a number, so names spread like a real list) and birth date. */
const family = (p: number) =>
  `${FAMILIES[p % FAMILIES.length] as string}${Math.floor(p / FAMILIES.length) % 500}`;
const birthDate = (p: number) =>
  new Date(BIRTH_START + ((p * 7919) % 30_000) * DAY).toISOString().slice(0, 10);

function bundle(first: number, rand: () => number): FhirResource {
  const entry: unknown[] = [];
  for (let p = first; p < Math.min(PATIENTS, first + PER_BUNDLE); p++) {
    const fullUrl = `urn:uuid:patient-${p}`;
    entry.push({
      fullUrl,
      request: { method: 'PUT', url: `Patient?identifier=${encodeURIComponent(MRN_SYSTEM)}|${mrn(p)}` },
      resource: {
        resourceType: 'Patient',
        identifier: [{ system: MRN_SYSTEM, value: mrn(p), type: { coding: [{ code: 'MR' }] } }],
        name: [{ family: family(p), given: [GIVEN[p % GIVEN.length]] }],
        birthDate: birthDate(p),
        gender: p % 2 ? 'female' : 'male',
      },
    });
    for (let o = 0; o < OBSERVATIONS; o++) {
      const id = `obs-${p}-${o}`;
      entry.push({
        fullUrl: `urn:uuid:${id}`,
        request: { method: 'PUT', url: `Observation/${id}` },
        resource: {
          resourceType: 'Observation',
          id,
          status: 'final',
          category: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
              ],
            },
          ],
          code: { coding: [{ system: 'http://loinc.org', code: CODES[o % CODES.length] }] },
          subject: { reference: fullUrl },
          effectiveDateTime: new Date(OBS_START + Math.floor(rand() * 730 * DAY)).toISOString(),
          valueQuantity: { value: Math.round(rand() * 1000) / 10, unit: 'mmol/L' },
        },
      });
    }
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

async function seed(hub: HubStore): Promise<{ seconds: number; patientIds: string[] }> {
  const rand = random(42);
  const started = Date.now();
  const patientIds: string[] = [];
  for (let p = 0; p < PATIENTS; p += PER_BUNDLE) {
    const changes = await hub.write(bundle(p, rand), {
      environment: 'production',
      channelId: 'bench',
      messageId: `seed-${p}`,
    });
    for (const c of changes) if (c.resourceType === 'Patient') patientIds.push(c.id);
    if ((p / PER_BUNDLE) % 50 === 0 && p > 0) {
      const done = p + PER_BUNDLE;
      const rate = Math.round((done * (1 + OBSERVATIONS)) / ((Date.now() - started) / 1000));
      process.stdout.write(`  seeded ${done} patients (${rate} resources/s)\n`);
    }
  }
  return { seconds: (Date.now() - started) / 1000, patientIds };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function timed(
  name: string,
  hub: HubStore,
  make: (i: number) => HubSearchRequest,
  expectHits: boolean,
): Promise<{ name: string; p50: number; p95: number; empty: number }> {
  // A warm-up round, not timed: the searches' pages in the database's cache, the statements prepared.
  for (let i = 0; i < Math.min(100, QUERIES); i++)
    await hub.search({ environment: 'production' }, make(QUERIES + i));
  const times: number[] = [];
  let empty = 0;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= QUERIES) return;
      const t = process.hrtime.bigint();
      const page = await hub.search({ environment: 'production' }, make(i));
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (page.resources.length === 0) empty++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  times.sort((a, b) => a - b);
  if (expectHits && empty > 0)
    process.stdout.write(`  warning: ${empty} of ${QUERIES} ${name} searches found nothing\n`);
  return { name, p50: percentile(times, 50), p95: percentile(times, 95), empty };
}

async function runOn(label: string, store: TypeOrmStore): Promise<boolean> {
  const hub = openHub(store);
  process.stdout.write(`\n${label}: seeding ${PATIENTS} patients × ${OBSERVATIONS} observations\n`);
  const { seconds, patientIds } = await seed(hub);
  // Statistics for the planner, as autovacuum would gather them after a bulk load.
  if (store.kind === 'postgres') {
    for (const table of ['hub_resource', 'hub_index', 'hub_version']) await store.sql.run(`ANALYZE ${table}`);
  } else {
    await store.sql.run('ANALYZE');
  }
  const total = PATIENTS * (1 + OBSERVATIONS);
  process.stdout.write(
    `  seeded ${total} resources in ${seconds.toFixed(1)} s (${Math.round(total / seconds)}/s)\n`,
  );
  const rand = random(7);
  const pick = () => Math.floor(rand() * PATIENTS);
  const results = [
    await timed(
      'Patient?identifier',
      hub,
      () => ({
        resourceType: 'Patient',
        params: [['identifier', `${MRN_SYSTEM}|${mrn(pick())}`]],
        count: 10,
      }),
      true,
    ),
    await timed(
      'Patient?name&birthdate',
      hub,
      () => {
        const p = pick();
        return {
          resourceType: 'Patient',
          params: [
            ['name', family(p).slice(0, 4)],
            ['birthdate', birthDate(p)],
          ],
          count: 10,
        };
      },
      true,
    ),
    await timed(
      'Observation?patient&code&date',
      hub,
      (i) => ({
        resourceType: 'Observation',
        params: [
          ['patient', patientIds[pick()] as string],
          ['code', `http://loinc.org|${CODES[i % CODES.length] as string}`],
          ['date', 'ge2025-01-01'],
        ],
        count: 10,
      }),
      true,
    ),
  ];
  let ok = true;
  for (const r of results) {
    const pass = r.p95 < TARGET_P95_MS;
    ok &&= pass;
    process.stdout.write(
      `  ${r.name.padEnd(32)} p50 ${r.p50.toFixed(2)} ms  p95 ${r.p95.toFixed(2)} ms  ${pass ? 'ok' : `OVER ${TARGET_P95_MS} ms`}\n`,
    );
  }
  const started = Date.now();
  let exported = 0;
  for await (const _r of hub.exportResources(
    { environment: 'production' },
    { types: ['Patient', 'Observation'] },
  ))
    exported++;
  const perSecond = Math.round(exported / ((Date.now() - started) / 1000));
  const exportOk = perSecond > TARGET_EXPORT_PER_S;
  ok &&= exportOk;
  process.stdout.write(
    `  export                           ${exported} resources, ${perSecond}/s  ${exportOk ? 'ok' : `UNDER ${TARGET_EXPORT_PER_S}/s`}\n`,
  );
  await hub.close();
  return ok;
}

async function main(): Promise<void> {
  process.stdout.write(
    `open-api hub benchmark: ${cpus().length} CPUs, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}, ${CONCURRENCY} concurrent, ${QUERIES} queries each\n`,
  );
  let ok = true;
  if (BACKEND === 'sqlite' || BACKEND === 'both') {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-bench-hub-'));
    const store = await openStore({ dataDir: dir, sqliteCacheMb: 256 });
    try {
      ok = (await runOn('SQLite', store)) && ok;
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (BACKEND === 'postgres' || BACKEND === 'both') {
    const schema = await withTestSchema();
    const store = await openStore({ databaseUrl: schema.url, schema: schema.schema, poolSize: POOL });
    try {
      ok = (await runOn('PostgreSQL', store)) && ok;
    } finally {
      await store.close();
      if (process.argv.includes('--keep')) process.stdout.write(`  kept schema ${schema.schema}\n`);
      else await schema.drop();
    }
  }
  process.exitCode = ok ? 0 : 1;
}

void main();
