import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { formatProblem, type ChannelEnvironment } from '@sinew/channels';
import { TEST_SIDE_SCHEMAS } from '../test/broken/cases';
import { EXAMPLE_FILE } from '../test/example';
import { compileReconciliation, isReconciliationText, loadReconciliations } from './schema';

const env: ChannelEnvironment = { values: { PMS_TOKEN: 'tok-123' }, strict: true };
const compile = (text: string, e: ChannelEnvironment = env) =>
  compileReconciliation(text, 'demo.yaml', e, { sideSchemas: TEST_SIDE_SCHEMAS });
const lines = (text: string, e?: ChannelEnvironment) => compile(text, e).problems.map(formatProblem);

const minimal = (extra = '', entityExtra = '') => `id: mini
${extra}systems:
  pms: { type: csv, dir: ./exports }
  ehr: { type: fhir, base_url: http://ehr }
entities:
  - name: patients
    identity: mrn
${entityExtra}    source: { system: pms, file: p.csv, key: MRN, fields: {} }
    target: { system: ehr, resource: Patient, key: identifier.value, fields: {} }
`;

describe('compileReconciliation', () => {
  it('compiles the documented example, with defaults and ${VAR} values', () => {
    const { reconciliation, problems } = compile(EXAMPLE_FILE);
    expect(problems).toEqual([]);
    const r = reconciliation!;
    expect([r.id, r.timezone, r.period, r.schedule]).toEqual([
      'demo',
      'America/New_York',
      'yesterday',
      { cron: '30 2 * * *', timezone: 'Europe/London' },
    ]);
    expect(r.systems.pms).toEqual({
      name: 'pms',
      type: 'http_json',
      settings: {
        base_url: 'http://127.0.0.1:8091',
        headers: { 'X-Clinic': 'main' },
        auth: { bearer: 'tok-123' },
      },
    });
    expect(r.secrets.has('tok-123')).toBe(true);
    const [patients, charges] = r.entities;
    expect(patients).toMatchObject({
      name: 'patients',
      identity: 'mrn',
      identityNormalise: ['trim', 'upper'],
      status: false,
      ledger: { channels: ['pms-adt'], key: 'mrn' },
      source: { system: 'pms', type: 'http_json' },
      target: { system: 'ehr', type: 'fhir', settings: { resource: 'Patient' } },
      alerts: { never_received: 1, delivered_not_applied: 1 },
      critical: ['delivered_not_applied'],
    });
    expect(patients?.fields.map((f) => [f.name, f.type, f.normalise, f.sourceFormat])).toEqual([
      ['family', 'string', ['trim', 'upper'], 'auto'],
      ['given', 'string', ['trim', 'upper'], 'auto'],
      ['birth_date', 'date', ['trim'], 'MM/DD/YYYY'],
      ['sex', 'string', ['trim'], 'auto'],
    ]);
    expect(charges?.fields.map((f) => [f.name, f.tolerance, f.timezone])).toEqual([
      ['amount', 0.01, 'America/New_York'],
      ['posted', 300_000, 'America/New_York'],
    ]);
    expect(r.failSafe).toEqual({ pauseChannels: ['lab-results'] });
  });

  it('defaults: nightly at 02:00 in the reconciliation’s zone, period yesterday, UTC', () => {
    const r = compile(minimal()).reconciliation!;
    expect([r.schedule, r.period, r.timezone, r.failSafe]).toEqual([
      { cron: '0 2 * * *', timezone: 'UTC' },
      'yesterday',
      'UTC',
      { pauseChannels: [] },
    ]);
    expect(compile(minimal('timezone: Europe/London\n')).reconciliation?.schedule.timezone).toBe(
      'Europe/London',
    );
  });

  it('reports an unset ${VAR} at its place, an error when strict, masking secrets in findings', () => {
    expect(lines(minimal().replace('./exports', "'${EXPORT_DIR}'"), { values: {}, strict: true })).toEqual([
      'demo.yaml:3:26 error env.unset systems.pms.dir: environment variable EXPORT_DIR has no value (write ${EXPORT_DIR:-default} for a default)',
    ]);
    const lax = compile(minimal().replace('./exports', "'${EXPORT_DIR}'"), { values: {}, strict: false });
    expect(lax.problems.map((p) => p.severity)).toEqual(['warning']);
    expect(lax.reconciliation).toBeDefined();
    const secret = lines(minimal('timezone: ${TZ_SECRET}\n'), {
      values: { TZ_SECRET: 'hunter2' },
      strict: true,
    });
    expect(secret).toEqual([
      'demo.yaml:2:11 error reconcile.timezone timezone: unknown time zone ****** (an IANA name: Europe/London, America/New_York, UTC)',
    ]);
  });

  it('reports schema problems of every section at once', () => {
    const text = minimal('colour: blue\n', '    status: maybe\n').replace('id: mini', 'id: Mini Demo');
    expect(lines(text)).toEqual([
      'demo.yaml:1:5 error schema.value id: lower-case letters, digits, `_` and `-`, starting with a letter or digit',
      'demo.yaml:2:1 error schema.unknown_key colour: unknown key colour (allowed: id, description, schedule, timezone, period, systems, entities, alerts, fail_safe)',
      'demo.yaml:9:13 error schema.type entities.0.status: expected a boolean, found text "maybe"',
    ]);
    expect(lines('id: x\nsystems: {}\n')).toEqual([
      'demo.yaml:1:1 error schema.missing entities: entities is required (a list)',
    ]);
    expect(lines('entities: [')).toEqual([
      expect.stringMatching(/^demo\.yaml:1:11 error yaml\.syntax YAML: /),
    ]);
  });

  it('checks sides against their adapters’ schemas only when given them', () => {
    const text = minimal().replace('resource: Patient,', 'resource: Patient, colour: blue,');
    expect(lines(text)).toEqual([
      'demo.yaml:9:47 error schema.unknown_key entities.0.target.colour: unknown key colour (allowed: date_param, fields, key, params, resource, status, system)',
    ]);
    expect(compileReconciliation(text, 'demo.yaml', env).problems).toEqual([]);
    const strictSql = {
      sql: { system: z.strictObject({ url: z.string() }), side: z.strictObject({ query: z.string() }) },
    };
    const sql = `id: s
systems:
  db: { type: sql, url: 'sqlite:pms.db' }
entities:
  - name: patients
    identity: mrn
    fields: { family: {}, birth_date: { type: date } }
    source: { system: db, query: 'SELECT mrn AS key, last_name AS family FROM patients' }
    target: { system: db, query: 'SELECT * FROM ehr_patients' }
`;
    expect(
      compileReconciliation(sql, 'sql.yaml', env, { sideSchemas: strictSql }).problems.map(formatProblem),
    ).toEqual([
      'sql.yaml:8:34 error reconcile.unread_field entities.0.source.query: the query returns no column birth_date (name the columns key, the compared fields)',
    ]);
  });

  it('asks a side of an entity with status: true where it reads the status', () => {
    expect(lines(minimal('', '    status: true\n'))).toEqual([
      'demo.yaml:9:13 error reconcile.unread_field entities.0.source: the entity counts per status (status: true): say where this side reads it (status:)',
      'demo.yaml:10:13 error reconcile.unread_field entities.0.target: the entity counts per status (status: true): say where this side reads it (status:)',
    ]);
  });

  it('refuses formats on fields that are not dates', () => {
    expect(lines(minimal('', '    fields: { family: { source_format: MM/DD/YYYY } }\n'))[0]).toBe(
      'demo.yaml:8:40 error schema.value entities.0.fields.family.source_format: source_format applies to date and datetime fields; this field is string',
    );
  });
});

describe('reconciliation files', () => {
  it('are YAML files with a top-level entities: key', () => {
    expect(isReconciliationText(EXAMPLE_FILE)).toBe(true);
    expect(isReconciliationText('id: adt\nsource: { type: mllp }\n')).toBe(false);
  });

  it('loads a folder: each file compiled, ids unique across files, relative paths from each file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-recon-'));
    try {
      mkdirSync(join(dir, 'nested'));
      writeFileSync(join(dir, 'a.yaml'), minimal());
      writeFileSync(join(dir, 'nested', 'b.yaml'), minimal());
      writeFileSync(join(dir, 'c.test.yaml'), 'ignored: true\n');
      const loaded = loadReconciliations(
        dir,
        { values: {}, strict: true },
        { sideSchemas: TEST_SIDE_SCHEMAS },
      );
      expect(
        loaded.map((l) => [
          l.path.slice(dir.length + 1),
          l.reconciliation?.id,
          l.problems.map((p) => p.message),
        ]),
      ).toEqual([
        ['a.yaml', 'mini', []],
        ['nested/b.yaml', undefined, [`reconciliation mini is also declared in ${join(dir, 'a.yaml')}`]],
      ]);
      expect(loaded[0]?.reconciliation?.baseDir).toBe(dir);
      expect(loadReconciliations(join(dir, 'none'), { values: {}, strict: true })).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
