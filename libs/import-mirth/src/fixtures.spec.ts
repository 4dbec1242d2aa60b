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
 * report accounts for every connector and step, the channels whose connectors this build has
 * pass `sinew lint`, the others have the shape the newer connectors take, and no password of an
 * export reaches a channel file.
 */
const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'mirth');
const SOURCE_TYPES = new Set(Object.keys(SOURCES));
const DESTINATION_TYPES = new Set(Object.keys(DESTINATIONS));
/** Connector types being added beside this importer; their channels are checked for shape only. */
const NEWER_SOURCES = new Set(['sftp', 'database', 'channel', 'schedule']);
const NEWER_DESTINATIONS = new Set(['sftp', 'database', 'channel', 'email']);
const lax: ChannelEnvironment = { values: {}, strict: false };
/** The imported channels whose source and destinations all exist in this build. */
const LINTED = ['fhir-listener', 'http-to-channel-writer', 'secure-json-to-hl7-dest-channel-writer'];

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

  it('each channel using connectors of this build passes sinew lint, with its transformers', () => {
    const linted = imported.result.channels
      .map((c) => load(c.id))
      .filter(
        (ch) =>
          SOURCE_TYPES.has(ch.source.type) && ch.destinations.every((d) => DESTINATION_TYPES.has(d.type)),
      )
      .map((ch) => ch.id)
      .sort();
    expect(linted).toEqual(LINTED);
    const report = lintPaths([...linted.map(channelFile), transformersOut], {
      connectors: { sources: SOURCES, destinations: DESTINATIONS },
      env: lax,
      transformerDirs: [transformersOut],
    });
    expect(report.problems.filter((p) => p.severity === 'error').map(formatProblem)).toEqual([]);
    expect(report.files).toBe(linted.length + readdirSync(transformersOut).length);
  });

  it('the others pass sinew lint too once the destinations of newer connector types are set aside', () => {
    const dir = join(tmp, 'known-only');
    mkdirSync(dir);
    const written: string[] = [];
    for (const c of imported.result.channels) {
      const ch = load(c.id);
      if (!SOURCE_TYPES.has(ch.source.type) || LINTED.includes(ch.id)) continue;
      ch.destinations = ch.destinations.filter((d) => DESTINATION_TYPES.has(d.type));
      writeFileSync(join(dir, `${ch.id}.yaml`), stringify(ch));
      written.push(ch.id);
    }
    expect(written.sort()).toEqual([
      'adt-router',
      'hl7-to-mysql-database',
      'json-to-hl7-dest-channel-writer',
      'json2json-dest-channel-writer',
    ]);
    const report = lintPaths([dir], {
      connectors: { sources: SOURCES, destinations: DESTINATIONS },
      env: lax,
      transformerDirs: [transformersOut],
    });
    // Two of the exports listen on one port: the import report says so, and so does lint.
    expect(
      report.problems.filter((p) => p.severity === 'error').map((p) => `${p.code} ${relative(dir, p.file)}`),
    ).toEqual(['channel.duplicate_listen json2json-dest-channel-writer.yaml']);
    const shared = imported.result.channels
      .filter((c) =>
        c.report.items.some((i) => i.what === 'address 0.0.0.0:8002' && i.outcome === 'not_converted'),
      )
      .map((c) => c.id);
    expect(shared).toEqual(
      expect.arrayContaining(['json-to-hl7-dest-channel-writer', 'json2json-dest-channel-writer']),
    );
  });

  it('the channels using the newer connector types have their shape: known types, unique names', () => {
    let checked = 0;
    for (const c of imported.result.channels) {
      const ch = load(c.id);
      expect(ch.id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect(SOURCE_TYPES.has(ch.source.type) || NEWER_SOURCES.has(ch.source.type)).toBe(true);
      const names = ch.destinations.map((d) => d.name);
      expect(new Set(names).size).toBe(names.length);
      for (const d of ch.destinations) {
        expect(d.name).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(DESTINATION_TYPES.has(d.type) || NEWER_DESTINATIONS.has(d.type)).toBe(true);
      }
      if (NEWER_SOURCES.has(ch.source.type) || ch.destinations.some((d) => NEWER_DESTINATIONS.has(d.type)))
        checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(5);
    expect(load('lab-sftp-pickup')).toMatchObject({
      source: {
        type: 'sftp',
        host: 'sftp.lab.example',
        port: 2222,
        directory: '/outbound/results',
        batch: true,
      },
      destinations: [
        {
          name: 'results-table',
          type: 'database',
          driver: 'postgres',
          statement: expect.stringContaining('VALUES (:mrn, :order'),
        },
        { name: 'to-adt-router', type: 'channel', channel: 'adt-router' },
      ],
    });
    expect(load('pms-appointments-poll').source).toMatchObject({
      type: 'database',
      driver: 'mysql',
      url: 'mysql://pms.clinic.example:3306/pms',
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
    // The email destination's connector is not in this build: the channel runs without it.
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
        env: { EHR_PORT: 2575, ADT_ROUTER_BILLING_API_AUTHORIZATION: 'Basic x' },
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
