import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { TransformerParseCache } from '@sinew/mapping';
import { formatProblem, lintPaths, type ChannelEnvironment } from '@sinew/channels';
import { BROKEN_CASES } from '../test/broken/cases';

const BROKEN = join(__dirname, '..', 'test', 'broken');
const connectors = { sources: SOURCES, destinations: DESTINATIONS };
const lax: ChannelEnvironment = { values: {}, strict: false };
const strict: ChannelEnvironment = { name: 'test', values: {}, strict: true };

/** `sinew lint INPUT` in `root`, with the parse cache in `cacheDir` (a new one each run, as the CLI makes). */
function lint(root: string, inputs: string[], cacheDir: string, env: ChannelEnvironment = lax): string[] {
  const report = lintPaths(
    inputs.map((i) => join(root, i)),
    {
      connectors,
      env,
      displayPath: (p) => relative(root, p),
      parseCache: new TransformerParseCache(cacheDir),
    },
  );
  expect(report.unreadable).toEqual([]);
  return report.problems.map(formatProblem);
}

describe('sinew lint with the transformer parse cache', () => {
  let tmp: string;
  let cacheDir: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'sinew-lint-cache-'));
    cacheDir = join(tmp, 'cache');
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('prints the same lines, at the same positions, for every broken file on a cold and on a warm cache', () => {
    // Two copies under different names, so that the second run reads from the cache, not from
    // the files this process parsed before.
    const cold = join(tmp, 'cold');
    const warm = join(tmp, 'warm');
    cpSync(BROKEN, cold, { recursive: true });
    cpSync(BROKEN, warm, { recursive: true });
    for (const c of BROKEN_CASES)
      expect(lint(cold, [c.input], cacheDir, c.env ? strict : lax)).toEqual(c.lines);
    const cached = JSON.parse(readFileSync(join(cacheDir, 'transformers.json'), 'utf8')) as {
      entries: Record<string, string>;
    };
    // The built-in transformers and the broken transformer files that parse as YAML.
    expect(Object.keys(cached.entries).length).toBeGreaterThan(100);
    for (const c of BROKEN_CASES)
      expect(lint(warm, [c.input], cacheDir, c.env ? strict : lax)).toEqual(c.lines);
  });

  it('parses a changed transformer file again and reports it where it is wrong', () => {
    const dir = join(tmp, 'transformers');
    mkdirSync(dir);
    const file = join(dir, 'msg.yaml');
    const good = `# a message map
transformer: cached-adt
input: hl7v2
output: fhir
messages: [ADT^A01]
resources:
  - name: patient
    type: Patient
    segment: PID
    map: PID[Patient]
`;
    writeFileSync(file, good);
    expect(lint(tmp, ['transformers'], cacheDir)).toEqual([]);
    expect(lint(tmp, ['transformers'], cacheDir)).toEqual([]);

    writeFileSync(file, good.replace('map: PID[Patient]', 'map: PID[Patinet]'));
    const expected = [
      'transformers/msg.yaml:10:10 error transformer.invalid no map named PID[Patinet] (map.unknown)',
    ];
    expect(lint(tmp, ['transformers'], cacheDir)).toEqual(expected);
    // The same text again: from the cache now, still at 10:10.
    writeFileSync(file, good);
    expect(lint(tmp, ['transformers'], cacheDir)).toEqual([]);
    writeFileSync(file, good.replace('map: PID[Patient]', 'map: PID[Patinet]'));
    expect(lint(tmp, ['transformers'], cacheDir)).toEqual(expected);
  });

  it('ignores a corrupt cache file and writes a good one', () => {
    const dir = join(tmp, 'transformers');
    cpSync(join(BROKEN, 'transformer-invalid.yaml'), join(dir, 'transformer-invalid.yaml'));
    const corrupt = join(tmp, 'corrupt');
    mkdirSync(corrupt);
    writeFileSync(join(corrupt, 'transformers.json'), '\u0000garbage{');
    const expected = [
      'transformers/transformer-invalid.yaml:9:10 error transformer.invalid no map named PID[Patinet] (map.unknown)',
    ];
    expect(lint(tmp, ['transformers'], corrupt)).toEqual(expected);
    const written = JSON.parse(readFileSync(join(corrupt, 'transformers.json'), 'utf8')) as {
      entries: Record<string, string>;
    };
    expect(Object.keys(written.entries)).toEqual([
      TransformerParseCache.key(readFileSync(join(dir, 'transformer-invalid.yaml'), 'utf8')),
    ]);
  });
});
