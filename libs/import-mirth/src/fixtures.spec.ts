import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse, stringify } from 'yaml';
import { lintPaths, formatProblem, type ChannelEnvironment } from '@sinew/channels';
import { runTests } from '@sinew/channels/testing';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { mixedChildren, child, children, MirthImportError, parseXml, text, type XmlNode } from './xml';
import { importMirth } from './convert';
import { importMirthFiles, type WrittenImport } from './write';

/**
 * Every export under test/fixtures/mirth converted at once, as `sinew import mirth` does: the
 * report accounts for every connector and step, the channels whose connectors this build's
 * registry has pass `sinew lint` (so the list grows as connectors are added), the others take
 * the keys of the sftp, database, email and channel connectors, and no password of an
 * export reaches a channel file.
 */
const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'mirth');
const SOURCE_TYPES = new Set(Object.keys(SOURCES));
const DESTINATION_TYPES = new Set(Object.keys(DESTINATIONS));
/** The connector types the importer emits; those not in this build's registry are checked for shape only. */
const EMITTED_SOURCES = new Set(['mllp', 'http', 'file', 'sftp', 'database', 'channel']);
const EMITTED_DESTINATIONS = new Set([
  'mllp',
  'http',
  'fhir',
  'file',
  'sftp',
  'database',
  'channel',
  'email',
]);
const lax: ChannelEnvironment = { values: {}, strict: false };
/** Imported channels whose connectors all exist whenever the database connectors do. */
const LINTED_AT_LEAST = [
  'fhir-listener',
  'hl7-to-mysql-database',
  'http-to-channel-writer',
  'secure-json-to-hl7-dest-channel-writer',
];
/** Channels that use the sftp, email or channel connectors, linted once this build has them. */
const NEEDS_NEWER = ['adt-router', 'lab-sftp-pickup', 'pms-appointments-poll'];

function xmlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? xmlFiles(p) : p.endsWith('.xml') ? [p] : [];
    });
}

interface Channel {
  id: string;
  enabled?: boolean;
  source: { type: string } & Record<string, unknown>;
  destinations: Array<{ name: string; type: string } & Record<string, unknown>>;
}

describe('sinew import mirth on the repository exports', () => {
  const files = xmlFiles(FIXTURES);
  let tmp: string;
  let out: string;
  let transformersOut: string;
  let imported: WrittenImport;
  const channelFile = (id: string) => join(out, `${id}.yaml`);
  const load = (id: string) => parse(readFileSync(channelFile(id), 'utf8')) as Channel;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'sinew-import-mirth-'));
    out = join(tmp, 'channels');
    transformersOut = join(tmp, 'transformers');
    imported = importMirthFiles(files, { out, transformersOut });
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('converts every channel of every export, and reads the code templates and the backup', () => {
    expect(files.length).toBeGreaterThanOrEqual(14);
    // 11 channel exports + 4 channels of the server configuration backup
    expect(imported.result.channels).toHaveLength(15);
    expect(imported.result.report.other.map((o) => o.title).sort()).toEqual([
      'Code templates',
      'Code templates',
      'Server configuration',
    ]);
    const report = readFileSync(join(out, 'IMPORT-REPORT.md'), 'utf8');
    for (const c of imported.result.channels)
      expect(report).toContain(`## Channel "${c.report.mirthName}" → \`${c.id}\``);
    expect(report).toContain('code template "Convert Date From Multiple Formats" (FUNCTION)');
    expect(report).toContain('configuration value "fhirDBUrl"');
  });

  it('the report lists every destination, every transformer step and every filter rule of every channel', () => {
    for (const file of files) {
      const root = parseXml(file, readFileSync(file, 'utf8'));
      const nodes: XmlNode[] = root.channel
        ? [child(root, 'channel') ?? {}]
        : children(child(child(root, 'serverConfiguration'), 'channels'), 'channel');
      for (const node of nodes) {
        const report = imported.result.channels.find(
          (c) => c.report.file === file && c.report.mirthId === text(node, 'id'),
        )?.report;
        expect(report).toBeDefined();
        const paths = new Set(report?.items.map((i) => i.path));
        const covered = (prefix: string, connector: XmlNode | undefined) => {
          for (const part of ['transformer', 'filter']) {
            const elements = mixedChildren(child(child(connector, part), 'elements'));
            elements.forEach(({ tag }, k) => {
              const path = `${prefix}${part}/elements/${tag.split('.').pop()}[${k}]`;
              if (!paths.has(path))
                throw new Error(`${relative(FIXTURES, file)}: nothing in the report for ${path}`);
            });
          }
        };
        covered('sourceConnector/', child(node, 'sourceConnector'));
        children(child(node, 'destinationConnectors'), 'connector').forEach((d, i) => {
          const prefix = `destinationConnectors/connector[${i}: ${text(d, 'name') ?? ''}]/`;
          if (![...paths].some((p) => p.startsWith(prefix)))
            throw new Error(`${relative(FIXTURES, file)}: nothing in the report for ${prefix}`);
          covered(prefix, d);
        });
      }
    }
  });

  /**
   * A Channel Reader that no imported channel writes to is reported as not converted: its
   * `from` is left empty for a person to fill in, so it is not expected to pass lint.
   */
  const unfed = (ch: Channel) =>
    ch.source.type === 'channel' && Array.isArray(ch.source.from) && ch.source.from.length === 0;
  /** Every connector of the channel is in this build. */
  const complete = (ch: Channel) =>
    SOURCE_TYPES.has(ch.source.type) &&
    !unfed(ch) &&
    ch.destinations.every((d) => DESTINATION_TYPES.has(d.type));

  it('each channel using only connectors of this build passes sinew lint, with its transformers', () => {
    const all = imported.result.channels.map((c) => load(c.id));
    const linted = all
      .filter(complete)
      .map((ch) => ch.id)
      .sort();
    expect(linted).toEqual(expect.arrayContaining(LINTED_AT_LEAST));
    // A channel that needs a connector type not registered here is left out: the list follows the registry.
    for (const ch of all)
      if (!complete(ch))
        expect(
          unfed(ch) ||
            !SOURCE_TYPES.has(ch.source.type) ||
            ch.destinations.some((d) => !DESTINATION_TYPES.has(d.type)),
        ).toBe(true);
    const needsNewer = NEEDS_NEWER.filter((id) => linted.includes(id));
    const report = lintPaths([...linted.map(channelFile), transformersOut], {
      connectors: { sources: SOURCES, destinations: DESTINATIONS },
      env: lax,
      transformerDirs: [transformersOut],
    });
    // Two of the exports listen on one port: the import report says so, and so does lint.
    const shared = ['json-to-hl7-dest-channel-writer', 'json2json-dest-channel-writer'];
    expect(
      report.problems
        .filter((p) => p.severity === 'error')
        .map(formatProblem)
        .filter((p) => !(p.includes('channel.duplicate_listen') && shared.some((id) => p.includes(id)))),
    ).toEqual([]);
    expect(report.files).toBe(linted.length + readdirSync(transformersOut).length);
    expect(needsNewer.length + LINTED_AT_LEAST.length).toBeLessThanOrEqual(linted.length);
  });

  it('the others pass sinew lint too once the destinations of connector types not in this build are set aside', () => {
    const dir = join(tmp, 'known-only');
    mkdirSync(dir);
    const written: string[] = [];
    for (const c of imported.result.channels) {
      const ch = load(c.id);
      if (!SOURCE_TYPES.has(ch.source.type) || unfed(ch)) continue;
      ch.destinations = ch.destinations.filter((d) => DESTINATION_TYPES.has(d.type));
      writeFileSync(join(dir, `${ch.id}.yaml`), stringify(ch));
      written.push(ch.id);
    }
    expect(written).toEqual(
      expect.arrayContaining([
        'adt-router',
        'hl7-to-mysql-database',
        'json-to-hl7-dest-channel-writer',
        'json2json-dest-channel-writer',
        'pms-appointments-poll',
      ]),
    );
    const report = lintPaths([dir], {
      connectors: { sources: SOURCES, destinations: DESTINATIONS },
      env: lax,
      transformerDirs: [transformersOut],
    });
    // Two of the exports listen on one port: the import report says so, and so does lint.
    const errors = report.problems
      .filter((p) => p.severity === 'error')
      .map((p) => `${p.code} ${relative(dir, p.file)}`);
    expect(errors).toContain('channel.duplicate_listen json2json-dest-channel-writer.yaml');
    expect(
      errors.filter(
        (e) =>
          e !== 'channel.duplicate_listen json2json-dest-channel-writer.yaml' &&
          e !== 'channel.duplicate_listen json-to-hl7-dest-channel-writer.yaml',
      ),
    ).toEqual([]);
    const shared = imported.result.channels
      .filter((c) =>
        c.report.items.some((i) => i.what === 'address 0.0.0.0:8002' && i.outcome === 'not_converted'),
      )
      .map((c) => c.id);
    expect(shared).toEqual(
      expect.arrayContaining(['json-to-hl7-dest-channel-writer', 'json2json-dest-channel-writer']),
    );
  });

  it('the channels using the sftp, database, email and channel connectors take the keys those connectors take', () => {
    for (const c of imported.result.channels) {
      const ch = load(c.id);
      expect(ch.id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect(EMITTED_SOURCES.has(ch.source.type) || ch.source.type === 'unsupported').toBe(true);
      const names = ch.destinations.map((d) => d.name);
      expect(new Set(names).size).toBe(names.length);
      for (const d of ch.destinations) {
        expect(d.name).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(EMITTED_DESTINATIONS.has(d.type)).toBe(true);
      }
    }
    const lab = load('lab-sftp-pickup');
    expect(lab).toMatchObject({
      source: {
        type: 'sftp',
        host: 'sftp.lab.example',
        port: 2222,
        directory: '/outbound/results',
        username: 'clinic',
        password: '${LAB_SFTP_PICKUP_SOURCE_SFTP_PASSWORD}',
        host_key_sha256: '${LAB_SFTP_PICKUP_SOURCE_SFTP_HOST_KEY_SHA256}',
        batch: true,
      },
      destinations: [
        {
          name: 'results-table',
          type: 'database',
          url: 'postgres://mirth:${LAB_SFTP_PICKUP_RESULTS_TABLE_DB_PASSWORD}@db.clinic.example:5432/results',
          statements: [
            {
              sql: expect.stringContaining('VALUES (:mrn, :order'),
              params: { mrn: 'mrn', order: 'order' },
            },
          ],
        },
        { name: 'to-adt-router', type: 'channel', channel: 'adt-router' },
      ],
    });
    expect(Object.keys(lab.source).sort()).toEqual(
      expect.not.arrayContaining(['host_key', 'delete_after', 'driver', 'private_key'].sort()),
    );
    expect(load('adt-router').source).toMatchObject({ type: 'mllp' });
    expect(load('adt-router').destinations.find((d) => d.type === 'email')).toEqual({
      name: expect.any(String),
      type: 'email',
      host: 'smtp.clinic.example',
      port: 587,
      tls: 'starttls',
      auth: {
        user: 'alerts@clinic.example',
        password: expect.stringMatching(/^\$\{ADT_ROUTER_.*SMTP_PASSWORD\}$/),
      },
      timeout_ms: 5000,
      from: 'alerts@clinic.example',
      to: ['it@clinic.example', 'desk@clinic.example'],
      subject: 'ADT ${message_id} received',
      body: 'A new ADT message arrived.',
      attachment: false,
      retry: expect.any(Object),
    });
    const poll = load('pms-appointments-poll');
    expect(poll.source).toEqual({
      type: 'database',
      url: 'mysql://reader:${PMS_APPOINTMENTS_POLL_SOURCE_DB_PASSWORD}@pms.clinic.example:3306/pms',
      query: 'SELECT id, patient_id, starts_at FROM appointment WHERE exported = 0',
      mark_column: 'id',
      key_column: 'id',
      poll_interval_ms: expect.any(Number),
    });
  });

  it('no password of an export reaches a channel or transformer file', () => {
    const secrets = new Set<string>();
    for (const f of files)
      for (const m of readFileSync(f, 'utf8').matchAll(/<password>([^<]+)<\/password>/g))
        if (m[1] && m[1] !== 'anonymous') secrets.add(m[1]);
    expect(secrets.size).toBeGreaterThanOrEqual(4);
    const values = (v: unknown): string[] =>
      typeof v === 'string'
        ? [v]
        : v && typeof v === 'object'
          ? Object.values(v as Record<string, unknown>).flatMap(values)
          : [];
    const written = imported.files.filter((f) => f.endsWith('.yaml'));
    expect(written.length).toBeGreaterThan(15);
    for (const f of written) {
      const found = values(parse(readFileSync(join(process.cwd(), f), 'utf8'))).filter((v) =>
        // A plain word ("password") may be a secret and a word of a description too.
        [...secrets].some((s) => v === s || (s.length >= 6 && /[^A-Za-z]/.test(s) && v.includes(s))),
      );
      expect({ file: f, found }).toEqual({ file: f, found: [] });
    }
  });

  it('an export cut short anywhere, or with an element emptied, gives a MirthImportError or a report, never a crash', () => {
    for (const file of files) {
      const body = readFileSync(file, 'utf8');
      const cuts = [1, 0.9, 0.5, 0.25, 0.1].map((f) => Math.floor(body.length * f));
      const variants = [
        ...cuts.map((n) => body.slice(0, n)),
        body.replace(/<properties class="[^"]*"[^>]*>[\s\S]*?<\/properties>/, '<properties/>'),
        body.replace(/<elements>[\s\S]*?<\/elements>/, '<elements>text</elements>'),
        body.replace(/<destinationConnectors>[\s\S]*<\/destinationConnectors>/, '<destinationConnectors/>'),
      ];
      for (const text of variants) {
        try {
          importMirth([{ path: file, text }]);
        } catch (err) {
          expect(err).toBeInstanceOf(MirthImportError);
          expect((err as Error).message.startsWith(`${file}: `)).toBe(true);
        }
      }
    }
  });

  it('the imported ADT router filters, acknowledges and routes as the Mirth channel does', () => {
    // Without the email connector in this build, the channel runs without its alert destination.
    const run = join(tmp, 'run');
    mkdirSync(run);
    const ch = load('adt-router');
    ch.destinations = ch.destinations.filter((d) => DESTINATION_TYPES.has(d.type));
    writeFileSync(join(run, 'adt-router.yaml'), stringify(ch));
    const adt = (type: string, pid3: string, name = 'DOE') =>
      `MSH|^~\\&|PMS|CLINIC|EHR|CLINIC|20260101120000||${type}|CTRL1|P|2.5.1\nPID|1||${pid3}^^^CLINIC^MR||${name}^JANE||19800101|F\nPV1|1|I|WARD1||||||||||||||||V123`;
    writeFileSync(
      join(run, 'adt-router.test.yaml'),
      stringify({
        env: {
          EHR_PORT: 2575,
          ADT_ROUTER_BILLING_API_AUTHORIZATION: 'Basic x',
          ADT_ROUTER_ALERT_SMTP_PASSWORD: 'x',
        },
        tests: [
          {
            name: 'an admission passes the Rule Builder filter and goes to every destination',
            input: adt('ADT^A01', 'MRN1'),
            status: 'processed',
            ack: 'AA',
            deliveries: {
              ehr: { type: 'hl7v2', hl7: { 'PID-3.1': 'MRN1' } },
              'billing-api': { type: 'hl7v2' },
              archive: { type: 'hl7v2' },
            },
          },
          {
            name: 'a lab result is filtered (MSH-9.1 is not ADT)',
            input: adt('ORU^R01', 'MRN1'),
            status: 'filtered',
            deliveries: 'none',
          },
          { name: 'a transfer (A02) is filtered', input: adt('ADT^A02', 'MRN1'), status: 'filtered' },
          { name: 'an admission without an MRN is filtered', input: adt('ADT^A04', ''), status: 'filtered' },
          {
            name: 'a test patient does not reach the billing API (its destination filter)',
            input: adt('ADT^A08', 'MRN2', 'TESTPATIENT'),
            status: 'processed',
            deliveries: { ehr: { type: 'hl7v2' }, 'billing-api': { none: true }, archive: { type: 'hl7v2' } },
          },
        ],
      }),
    );
    const { results } = runTests([run]);
    expect(results.filter((r) => !r.passed)).toEqual([]);
    expect(results).toHaveLength(5);
  });

  it('a Database Writer script becomes a statement whose parameters the values transformer fills', () => {
    const run = join(tmp, 'run-db');
    mkdirSync(run);
    const ch = load('hl7-to-mysql-database');
    const dest = ch.destinations[0] as {
      name: string;
      transformer?: string;
      statements?: Array<{ sql: string; params: Record<string, string> }>;
    };
    expect(dest.statements).toEqual([
      {
        sql: 'INSERT INTO PERSON (USERNAME, FIRSTNAME, LASTNAME, LOGGED_IN) VALUES (:Username, :FirstName, :LastName, 0)',
        params: { Username: 'Username', FirstName: 'FirstName', LastName: 'LastName' },
      },
    ]);
    expect(dest.transformer).toBe('hl7-to-mysql-database-hl7-to-mysql-patient-database-values');
    writeFileSync(join(run, 'hl7-to-mysql-database.yaml'), stringify(ch));
    writeFileSync(
      join(run, 'hl7-to-mysql-database.test.yaml'),
      stringify({
        env: { HL7_TO_MYSQL_DATABASE_HL7_TO_MYSQL_PATIENT_DATABASE_DB_PASSWORD: 'x' },
        tests: [
          {
            name: 'the destination receives the fields its statement binds',
            input:
              'MSH|^~\\&|PMS|CLINIC|EHR|CLINIC|20260101||ADT^A04|1|P|2.5.1||||||||jdoe^^ACC9||DOE^JANE\nPID|1||MRN1',
            status: 'processed',
            deliveries: {
              [dest.name]: {
                type: 'json',
                json: { Username: 'jdoe', FirstName: 'JANE', LastName: 'DOE', Account: 'ACC9' },
              },
            },
          },
        ],
      }),
    );
    const { results } = runTests([run], { transformers: [transformersOut] });
    expect(results.filter((r) => !r.passed)).toEqual([]);
    expect(results).toHaveLength(1);
  });

  it('the values transformer written from the Mapper steps reads what the Mirth steps read', () => {
    const dir = join(tmp, 'values');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'adt-router-values.yaml'),
      readFileSync(join(transformersOut, 'adt-router-values.yaml')),
    );
    writeFileSync(
      join(dir, 'adt-router-values.test.yaml'),
      stringify({
        transformer: 'adt-router-values',
        tests: [
          {
            name: 'mrn from PID-3.1, visit from PV1-19.1',
            input:
              'MSH|^~\\&|PMS|CLINIC|EHR|CLINIC|20260101||ADT^A01|1|P|2.5.1\nPID|1||MRN7^^^CLINIC^MR||DOE^JANE\nPV1|1|I|||||||||||||||||V77',
            expect: { mrn: 'MRN7', visit: 'V77' },
          },
        ],
      }),
    );
    const { results } = runTests([dir], { transformers: [dir] });
    expect(results.filter((r) => !r.passed)).toEqual([]);
    expect(results).toHaveLength(1);
  });
});
