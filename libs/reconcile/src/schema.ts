import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import {
  didYouMean,
  LintCode,
  maskSecrets,
  parseDuration,
  readYaml,
  resolveReferences,
  zodProblems,
  type ChannelEnvironment,
  type LintProblem,
  type OtherFileKind,
  type Position,
  type RawProblem,
  type Severity,
  sortProblems,
} from '@sinew/channels';
import { cronProblem, isTimeZone, periodProblem } from './period';
import { DISCREPANCY_CLASSES, type DiscrepancyClass } from './types';

/**
 * The reconciliation file, declared once: the compiler checks files against it and the JSON
 * Schema for editors (schemas/reconciliation.schema.json) is generated from it.
 */

export const RECONCILIATION_ID = /^[a-z0-9][a-z0-9_-]*$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const NORMALISERS = ['trim', 'upper', 'lower', 'collapse_spaces', 'digits', 'strip_accents'] as const;
export type Normaliser = (typeof NORMALISERS)[number];

export const FIELD_TYPES = ['string', 'number', 'date', 'datetime'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const DATE_FORMATS = [
  'auto',
  'YYYY-MM-DD',
  'MM/DD/YYYY',
  'DD/MM/YYYY',
  'YYYYMMDD',
  'HL7',
  'ISO',
] as const;
export type DateFormat = (typeof DATE_FORMATS)[number];

export const DEFAULT_CRON = '0 2 * * *';

const normaliser = z
  .enum(NORMALISERS)
  .describe(
    'trim, upper, lower, collapse_spaces (runs of white space become one space), digits (keep digits only), strip_accents (é → e)',
  );

const dateFormat = z
  .enum(DATE_FORMATS)
  .describe(
    'auto (ISO 8601 date or date-time, or HL7 DTM YYYYMMDD[HHMM[SS[.S+]]][+/-ZZZZ]), YYYY-MM-DD, MM/DD/YYYY, DD/MM/YYYY, YYYYMMDD, HL7 (DTM), ISO (ISO 8601)',
  );

export const fieldSchema = z
  .strictObject({
    type: z
      .enum(FIELD_TYPES)
      .default('string')
      .describe(
        'string (compared as text after the normalisers), number, date (compared as YYYY-MM-DD), datetime (compared as a UTC instant)',
      ),
    normalise: z
      .array(normaliser)
      .default(['trim'])
      .describe('text normalisers applied to both sides\u2019 values, in order (default: trim)'),
    source_format: dateFormat
      .default('auto')
      .describe('date and datetime fields: how the source side writes the value (default auto)'),
    target_format: dateFormat
      .default('auto')
      .describe('date and datetime fields: how the target side writes the value (default auto)'),
    timezone: z
      .string()
      .optional()
      .describe(
        'datetime fields: the IANA time zone of local times without an offset (default: the reconciliation\u2019s timezone)',
      ),
    map: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe(
        'source code → target code, applied to the source value after the normalisers; unmapped values pass unchanged',
      ),
    tolerance: z
      .union([z.number().min(0), z.string()])
      .optional()
      .describe(
        'number fields: the largest difference still equal (0.01); datetime fields: a duration (30s, 5m, 1h, 1d)',
      ),
  })
  .describe('a compared field: its type, normalisers, formats, code map and tolerance');

export const sideSchema = z
  .looseObject({
    system: z.string().min(1).describe('the name of a system declared under systems'),
  })
  .describe(
    'where the side reads the entity: the system, and that system type\u2019s read settings (docs/reconciliation.md)',
  );

export const systemSchema = z
  .looseObject({
    type: z
      .string()
      .min(1)
      .describe('the adapter: fhir, http_json, sql, csv or ledger (what Sinew itself received)'),
  })
  .describe('a named connection: its adapter type and that adapter\u2019s connection settings');

export const entitySchema = z.strictObject({
  name: z
    .string()
    .regex(NAME, 'letters, digits, `_` and `-` only')
    .describe('the entity name, unique in the file'),
  identity: z
    .string()
    .min(1)
    .describe('the name of the identity that matches records (mrn, visit_number …), as reports show it'),
  identity_normalise: z
    .array(normaliser)
    .default(['trim'])
    .describe('normalisers applied to the identity on both sides before matching (default: trim)'),
  status: z
    .boolean()
    .default(false)
    .describe('true: count records per status (each side then says where it reads the status)'),
  ledger: z
    .strictObject({
      channels: z.array(z.string().min(1)).min(1).describe('the channels whose messages carry this entity'),
      key: z.string().min(1).describe('the channels\u2019 business key (keys:) holding the identity'),
    })
    .optional()
    .describe('where Sinew\u2019s ledger finds the messages for a record: the channels and business key'),
  fields: z
    .record(z.string().regex(FIELD_NAME, 'letters, digits and `_` only'), fieldSchema)
    .default({})
    .describe('the compared fields by name; each side says where it reads each one'),
  pushdown: z
    .boolean()
    .default(false)
    .describe(
      'both sides sql: compare range checksums in the databases and read only the ranges that differ (pays when reading rows is what costs: a remote database; not with a code map or two date formats)',
    ),
  source: sideSchema.describe('the side of truth (usually the PMS): its system and read settings'),
  target: sideSchema.describe('the side compared with it (usually the EHR): its system and read settings'),
  alerts: z
    .record(z.string(), z.number().int().min(1))
    .optional()
    .describe(
      `discrepancy class → threshold: an alert when a run finds at least that many (classes: ${DISCREPANCY_CLASSES.join(', ')})`,
    ),
  critical: z
    .array(z.string())
    .optional()
    .describe('discrepancy classes that raise a sync-error flag until an operator acknowledges it'),
});

export const reconciliationSchema = z.strictObject({
  id: z
    .string()
    .regex(RECONCILIATION_ID, 'lower-case letters, digits, `_` and `-`, starting with a letter or digit')
    .describe('the reconciliation id (`sinew reconcile run ID`), unique'),
  description: z.string().optional().describe('what the reconciliation compares'),
  schedule: z
    .strictObject({
      cron: z
        .string()
        .default(DEFAULT_CRON)
        .describe(
          'a 5-field cron expression: minute hour day-of-month month day-of-week (default 0 2 * * *)',
        ),
      timezone: z
        .string()
        .optional()
        .describe('the IANA time zone the cron expression is read in (default: the top-level timezone)'),
    })
    .optional()
    .describe('when the scheduler runs it (default: 02:00 every day in the reconciliation\u2019s time zone)'),
  timezone: z
    .string()
    .default('UTC')
    .describe('the clinic\u2019s IANA time zone: periods are days in it (default UTC)'),
  period: z
    .string()
    .default('yesterday')
    .describe(
      'what a run covers: yesterday, today, all, last_24h, last_7d, last_30d, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD (default yesterday)',
    ),
  systems: z
    .record(z.string().regex(NAME, 'letters, digits, `_` and `-` only'), systemSchema)
    .describe('named connections the entities\u2019 sides read through'),
  entities: z.array(entitySchema).min(1).describe('the entities compared, each with its two sides'),
  alerts: z
    .strictObject({
      webhook: z
        .strictObject({
          url: z.string().min(1).describe('where alerts are posted'),
          secret: z
            .string()
            .optional()
            .describe('signs each alert (HMAC-SHA256, Standard Webhooks); use ${VAR} or ${file:PATH}'),
        })
        .optional()
        .describe('a webhook receiving an alert when a threshold is crossed'),
    })
    .optional()
    .describe('where alerts go'),
  fail_safe: z
    .strictObject({
      pause_channels: z
        .array(z.string().min(1))
        .default([])
        .describe('channels paused while a sync-error flag of this reconciliation is open'),
    })
    .optional()
    .describe('what a sync-error flag does besides being shown'),
});

export type ReconciliationSpec = z.output<typeof reconciliationSchema>;

/** A compared field, compiled. */
export interface FieldConfig {
  name: string;
  type: FieldType;
  normalise: readonly Normaliser[];
  sourceFormat: DateFormat;
  targetFormat: DateFormat;
  /** Datetime fields: the zone of local times without an offset. */
  timezone: string;
  /** Source code → target code (after the normalisers). */
  map?: Readonly<Record<string, string>>;
  /** Number fields: the largest equal difference; datetime fields: milliseconds. */
  tolerance?: number;
}

/** A named connection: its adapter type and that adapter's settings (`type` left out). */
export interface SystemConfig {
  name: string;
  type: string;
  settings: Record<string, unknown>;
}

/** One side of an entity: its system and the adapter's read settings (`system` left out). */
export interface SideConfig {
  system: string;
  /** The system's adapter type. */
  type: string;
  settings: Record<string, unknown>;
}

export interface EntityConfig {
  name: string;
  identity: string;
  identityNormalise: readonly Normaliser[];
  status: boolean;
  ledger?: { channels: string[]; key: string };
  fields: FieldConfig[];
  source: SideConfig;
  target: SideConfig;
  /** Class → threshold. */
  alerts: Partial<Record<DiscrepancyClass, number>>;
  critical: DiscrepancyClass[];
  /** Both sides SQL: compare range checksums in the databases (`pushdown: true`). */
  pushdown?: boolean;
}

/** A reconciliation file that passed every check. */
export interface Reconciliation {
  id: string;
  description?: string;
  /** The file as named in findings. */
  file: string;
  /** The folder of the file: relative paths in adapter settings resolve against it. */
  baseDir: string;
  /** sha256 of the text, hex. */
  hash: string;
  timezone: string;
  period: string;
  schedule: { cron: string; timezone: string };
  systems: Record<string, SystemConfig>;
  entities: EntityConfig[];
  alerts?: { webhook?: { url: string; secret?: string } };
  failSafe: { pauseChannels: string[] };
  /** Values that came from secrets: masked wherever the configuration is shown. */
  secrets: ReadonlySet<string>;
}

/** The settings schemas of an adapter type: its system's and its sides'. */
export type SideSchemas = Record<string, { system: z.ZodType; side: z.ZodType }>;

export interface CompileReconciliationOptions {
  /** The adapters' settings schemas; without them, adapter settings are not checked. */
  sideSchemas?: SideSchemas;
}

export interface ReconciliationResult {
  /** Set when there is no error (warnings may remain). */
  reconciliation?: Reconciliation;
  problems: LintProblem[];
}

/** Top-level keys that make a YAML file a reconciliation file. */
const RECONCILIATION_KEY = /^entities[ \t]*:/m;

/** A reconciliation file: a YAML file with a top-level `entities:` key. */
export function isReconciliationText(text: string): boolean {
  return RECONCILIATION_KEY.test(text);
}

/** Adapter types whose sides name where each field is read in a `fields:` mapping. */
const FIELD_MAPPING_TYPES = new Set(['fhir', 'http_json', 'csv']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Checks one reconciliation file and compiles it: `${…}` references, the schema, the systems
 * the sides name, each side's settings against its adapter's schema (when given), that each side
 * reads every compared field, normalisers, formats, time zones, cron, period, tolerances and the
 * classes named by `alerts` and `critical`. Findings carry the exact YAML position.
 */
export function compileReconciliation(
  text: string,
  file: string,
  env: ChannelEnvironment,
  options: CompileReconciliationOptions = {},
): ReconciliationResult {
  const problems: LintProblem[] = [];
  const unresolved = new Set<string>();
  const yaml = readYaml(text);
  let secrets: ReadonlySet<string> = new Set();
  const add = (
    path: ReadonlyArray<string | number>,
    code: LintProblem['code'],
    message: string,
    severity: Severity = 'error',
    at: 'key' | 'value' = 'value',
  ) => {
    if (unresolved.has(path.join('.')) && code !== LintCode.EnvUnset && code !== LintCode.EnvFile) return;
    const pos: Position = at === 'key' ? yaml.keyAt(path) : yaml.valueAt(path);
    problems.push({
      file,
      ...pos,
      severity,
      code,
      path: path.join('.'),
      message: maskSecrets(message, secrets),
    });
  };
  const addRaw = (list: readonly RawProblem[]) => {
    for (const p of list) add(p.path, p.code, p.message, 'error', p.at);
  };

  if (yaml.errors.length) {
    const e = yaml.errors[0] as Position & { message: string };
    problems.push({
      file,
      line: e.line,
      column: e.column,
      severity: 'error',
      code: LintCode.YamlSyntax,
      path: '',
      message: `YAML: ${e.message}`,
    });
    return { problems };
  }
  const raw: unknown = yaml.doc.toJS();
  if (!isRecord(raw)) {
    add([], LintCode.Type, 'a reconciliation file is a mapping with id, systems and entities');
    return { problems };
  }
  const resolved = resolveReferences(raw, env);
  secrets = resolved.secrets;
  for (const f of resolved.findings) {
    unresolved.add(f.path.join('.'));
    if (f.kind === 'file') add(f.path, LintCode.EnvFile, f.message);
    else add(f.path, LintCode.EnvUnset, f.message, env.strict ? 'error' : 'warning');
  }
  const data = resolved.data as Record<string, unknown>;

  // Each section is parsed on its own, so that one bad section does not hide the others' findings.
  const shape = reconciliationSchema.shape;
  for (const key of Object.keys(data))
    if (!(key in shape))
      add(
        [key],
        LintCode.UnknownKey,
        `unknown key ${key}${didYouMean(key, Object.keys(shape)) || ` (allowed: ${Object.keys(shape).join(', ')})`}`,
        'error',
        'key',
      );
  let failed = false;
  const parse = <T>(schema: z.ZodType<T>, value: unknown, path: Array<string | number>): T | undefined => {
    const r = schema.safeParse(value, { reportInput: true });
    if (r.success) return r.data;
    failed = true;
    addRaw(zodProblems(r.error.issues, schema, path));
    return undefined;
  };
  const id = parse(shape.id, data.id, ['id']);
  const description = parse(shape.description, data.description, ['description']);
  const schedule = parse(shape.schedule, data.schedule, ['schedule']);
  const timezone = parse(shape.timezone, data.timezone, ['timezone']);
  const period = parse(shape.period, data.period, ['period']);
  const systemsSpec = parse(shape.systems, data.systems, ['systems']);
  const alerts = parse(shape.alerts, data.alerts, ['alerts']);
  const failSafe = parse(shape.fail_safe, data.fail_safe, ['fail_safe']);
  let entitySpecs: Array<z.output<typeof entitySchema> | undefined> = [];
  if (Array.isArray(data.entities) && data.entities.length > 0)
    entitySpecs = data.entities.map((e: unknown, i) => parse(entitySchema, e, ['entities', i]));
  else parse(shape.entities, data.entities, ['entities']);

  const zoneOk = (tz: string | undefined, path: Array<string | number>): boolean => {
    if (tz === undefined || isTimeZone(tz)) return true;
    add(
      path,
      LintCode.TimeZone,
      `unknown time zone ${tz} (an IANA name: Europe/London, America/New_York, UTC)`,
    );
    return false;
  };
  const zone = timezone !== undefined && zoneOk(timezone, ['timezone']) ? timezone : 'UTC';
  if (period !== undefined) {
    const why = periodProblem(period);
    if (why) add(['period'], LintCode.Period, why);
  }
  if (schedule) {
    const why = cronProblem(schedule.cron);
    if (why) add(['schedule', 'cron'], LintCode.Cron, why);
    zoneOk(schedule.timezone, ['schedule', 'timezone']);
  }

  // Systems, checked against their adapters' schemas when given.
  const systems: Record<string, SystemConfig> = {};
  const sideSchemas = options.sideSchemas;
  for (const [name, spec] of Object.entries(systemsSpec ?? {})) {
    const { type, ...settings } = spec;
    systems[name] = { name, type, settings };
    if (!sideSchemas) continue;
    const adapter = sideSchemas[type];
    if (!adapter) {
      const known = Object.keys(sideSchemas).sort();
      add(
        ['systems', name, 'type'],
        LintCode.SystemType,
        `unknown system type ${type}${didYouMean(type, known)} (types: ${known.join(', ')})`,
      );
      continue;
    }
    const r = adapter.system.safeParse(settings, { reportInput: true });
    if (!r.success) addRaw(zodProblems(r.error.issues, adapter.system, ['systems', name], () => ['type']));
  }

  const entities: EntityConfig[] = [];
  const seenEntities = new Map<string, number>();
  entitySpecs.forEach((spec, i) => {
    if (!spec) return;
    const at: Array<string | number> = ['entities', i];
    const first = seenEntities.get(spec.name);
    if (first !== undefined)
      add(
        [...at, 'name'],
        LintCode.DuplicateReconcile,
        `entity ${spec.name} is declared twice (first as entities.${first})`,
      );
    else seenEntities.set(spec.name, i);

    const fields: FieldConfig[] = [];
    for (const [name, f] of Object.entries(spec.fields)) {
      const fat = [...at, 'fields', name];
      const fieldZone =
        f.timezone !== undefined && zoneOk(f.timezone, [...fat, 'timezone']) ? f.timezone : zone;
      let tolerance: number | undefined;
      if (f.tolerance !== undefined) {
        if (f.type === 'number') {
          if (typeof f.tolerance === 'number') tolerance = f.tolerance;
          else
            add(
              [...fat, 'tolerance'],
              LintCode.Tolerance,
              `a number field's tolerance is a number (0.01), found ${JSON.stringify(f.tolerance)}`,
            );
        } else if (f.type === 'datetime') {
          const ms = parseDuration(f.tolerance);
          if (ms === undefined)
            add(
              [...fat, 'tolerance'],
              LintCode.Duration,
              `not a duration: ${String(f.tolerance)} (write 30s, 5m, 1h, 1d, or milliseconds)`,
            );
          else tolerance = ms;
        } else
          add(
            [...fat, 'tolerance'],
            LintCode.Tolerance,
            `a ${f.type} field takes no tolerance (number and datetime fields do)`,
          );
      }
      if (f.type !== 'date' && f.type !== 'datetime')
        for (const k of ['source_format', 'target_format'] as const)
          if (f[k] !== 'auto')
            add(
              [...fat, k],
              LintCode.Value,
              `${k} applies to date and datetime fields; this field is ${f.type}`,
            );
      fields.push({
        name,
        type: f.type,
        normalise: f.normalise,
        sourceFormat: f.source_format,
        targetFormat: f.target_format,
        timezone: fieldZone,
        ...(f.map ? { map: Object.fromEntries(Object.entries(f.map).map(([k, v]) => [k, String(v)])) } : {}),
        ...(tolerance !== undefined ? { tolerance } : {}),
      });
    }

    const side = (which: 'source' | 'target'): SideConfig => {
      const { system, ...settings } = spec[which];
      const sat = [...at, which];
      const sys = systems[system];
      if (!sys) {
        if (systemsSpec) {
          const known = Object.keys(systems);
          add(
            [...sat, 'system'],
            LintCode.UnknownSystem,
            `no system named ${system}${didYouMean(system, known)}${known.length ? ` (systems: ${known.join(', ')})` : ''}`,
          );
        }
        return { system, type: '', settings };
      }
      const adapter = sideSchemas?.[sys.type];
      if (adapter) {
        const r = adapter.side.safeParse(settings, { reportInput: true });
        if (!r.success) addRaw(zodProblems(r.error.issues, adapter.side, sat, () => ['system']));
      }
      unreadFields(sys.type, settings, fields, spec.status, sat);
      return { system, type: sys.type, settings };
    };
    const unreadFields = (
      type: string,
      settings: Record<string, unknown>,
      compared: readonly FieldConfig[],
      status: boolean,
      sat: Array<string | number>,
    ) => {
      if (FIELD_MAPPING_TYPES.has(type)) {
        const mapping = isRecord(settings.fields) ? settings.fields : {};
        const missing = compared.filter((f) => !(f.name in mapping)).map((f) => f.name);
        if (missing.length)
          add(
            isRecord(settings.fields) ? [...sat, 'fields'] : sat,
            LintCode.UnreadField,
            `this side does not say where to read ${missing.join(', ')} (add ${missing.length === 1 ? 'it' : 'them'} under fields:)`,
          );
        if (status && settings.status === undefined)
          add(
            sat,
            LintCode.UnreadField,
            'the entity counts per status (status: true): say where this side reads it (status:)',
          );
      } else if (type === 'sql' && typeof settings.query === 'string' && !settings.query.includes('*')) {
        const query = settings.query;
        const columns = [...compared.map((f) => f.name), 'key', ...(status ? ['status'] : [])];
        const missing = columns.filter((c) => !new RegExp(`\\b${c}\\b`, 'i').test(query));
        if (missing.length)
          add(
            [...sat, 'query'],
            LintCode.UnreadField,
            `the query returns no column ${missing.join(', ')} (name the columns key, ${['the compared fields', ...(status ? ['status'] : [])].join(', ')})`,
          );
      }
    };
    const source = side('source');
    const target = side('target');

    const classes: DiscrepancyClass[] = [];
    const isClass = (c: string, path: Array<string | number>, keyed: boolean): c is DiscrepancyClass => {
      if ((DISCREPANCY_CLASSES as readonly string[]).includes(c)) return true;
      add(
        path,
        LintCode.UnknownClass,
        `unknown class ${c}${didYouMean(c, DISCREPANCY_CLASSES) || ` (classes: ${DISCREPANCY_CLASSES.join(', ')})`}`,
        'error',
        keyed ? 'key' : 'value',
      );
      return false;
    };
    for (const [k, c] of (spec.critical ?? []).entries())
      if (isClass(c, [...at, 'critical', k], false)) classes.push(c);
    const thresholds: Partial<Record<DiscrepancyClass, number>> = {};
    for (const [c, n] of Object.entries(spec.alerts ?? {}))
      if (isClass(c, [...at, 'alerts', c], true)) thresholds[c] = n;

    entities.push({
      name: spec.name,
      identity: spec.identity,
      identityNormalise: spec.identity_normalise,
      status: spec.status,
      ...(spec.ledger ? { ledger: spec.ledger } : {}),
      fields,
      source,
      target,
      alerts: thresholds,
      critical: classes,
      pushdown: spec.pushdown,
    });
  });

  sortProblems(problems);
  if (failed || problems.some((p) => p.severity === 'error') || id === undefined) return { problems };
  return {
    reconciliation: {
      id,
      ...(description !== undefined ? { description } : {}),
      file,
      baseDir: env.baseDir ?? process.cwd(),
      hash: createHash('sha256').update(text).digest('hex'),
      timezone: zone,
      period: period ?? 'yesterday',
      schedule: { cron: schedule?.cron ?? DEFAULT_CRON, timezone: schedule?.timezone ?? zone },
      systems,
      entities,
      ...(alerts ? { alerts: alerts.webhook ? { webhook: alerts.webhook } : {} } : {}),
      failSafe: { pauseChannels: failSafe?.pause_channels ?? [] },
      secrets,
    },
    problems,
  };
}

export interface LoadedReconciliation {
  /** The path as given (joined to the folder). */
  path: string;
  reconciliation?: Reconciliation;
  problems: LintProblem[];
}

/** `*.yaml`/`*.yml` files under `dir` and its subfolders (not `*.test.yaml`), sorted. */
export function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry) && !/\.test\.ya?ml$/.test(entry)) out.push(path);
  }
  return out;
}

/**
 * Compiles reconciliation files together: each file on its own (relative `${file:…}` and adapter
 * paths from its folder), then ids unique across them (the second file holding an id is refused).
 */
export function compileReconciliationFiles(
  files: ReadonlyArray<{ path: string; file: string; text: string }>,
  env: ChannelEnvironment,
  options: CompileReconciliationOptions = {},
): LoadedReconciliation[] {
  const out: LoadedReconciliation[] = [];
  const ids = new Map<string, string>();
  for (const f of files) {
    const baseDir = dirname(resolve(f.path));
    const r = compileReconciliation(f.text, f.file, { ...env, baseDir }, options);
    const loaded: LoadedReconciliation = { path: f.path, problems: r.problems };
    const id = r.reconciliation?.id;
    if (id !== undefined) {
      const first = ids.get(id);
      if (first !== undefined) {
        const pos = readYaml(f.text).valueAt(['id']);
        loaded.problems.push({
          file: f.file,
          ...pos,
          severity: 'error',
          code: LintCode.DuplicateReconcile,
          path: 'id',
          message: `reconciliation ${id} is also declared in ${first}`,
        });
      } else {
        ids.set(id, f.file);
        loaded.reconciliation = r.reconciliation;
      }
    }
    out.push(loaded);
  }
  return out;
}

/**
 * Every reconciliation file under `dir` (`*.yaml`, not `*.test.yaml`), compiled: each with its
 * reconciliation or its problems. A folder that does not exist gives none.
 */
export function loadReconciliations(
  dir: string,
  env: ChannelEnvironment,
  options: CompileReconciliationOptions = {},
): LoadedReconciliation[] {
  let paths: string[];
  try {
    paths = yamlFiles(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files: Array<{ path: string; file: string; text: string }> = [];
  const out: LoadedReconciliation[] = [];
  for (const path of paths) {
    try {
      files.push({ path, file: path, text: readFileSync(path, 'utf8') });
    } catch (err) {
      out.push({
        path,
        problems: [
          {
            file: path,
            line: 1,
            column: 1,
            severity: 'error',
            code: LintCode.Unreadable,
            path: '',
            message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          },
        ],
      });
    }
  }
  return [...out, ...compileReconciliationFiles(files, env, options)];
}

/**
 * What `sinew lint` needs to check reconciliation files among its inputs (a YAML file with a
 * top-level `entities:` key): pass it in `otherFiles` of `lintPaths`.
 */
export function reconciliationLinter(options: CompileReconciliationOptions = {}): OtherFileKind {
  return {
    matches: isReconciliationText,
    lint: (files, env) => compileReconciliationFiles(files, env, options).flatMap((r) => r.problems),
  };
}

type JsonNode = { [key: string]: unknown };

const REFERENCE_DEF: JsonNode = {
  type: 'string',
  pattern: '\\$\\{[^}]+\\}',
  description: 'a ${VAR}, ${VAR:-default} or ${file:PATH} reference, checked once resolved',
};

/** Lets every value checked beyond "some text" (numbers, booleans, choices, patterns) be a `${…}` reference too. */
function allowReferences(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowReferences);
  if (!node || typeof node !== 'object') return node;
  const out: JsonNode = {};
  for (const [k, v] of Object.entries(node as JsonNode)) {
    if ((k === 'maximum' || k === 'minimum') && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    out[k] =
      k === 'enum' || k === 'const' || k === 'default' || k === 'examples' || k === 'propertyNames'
        ? v
        : allowReferences(v);
  }
  const type = out.type;
  const checked =
    out.const === undefined &&
    (type === 'integer' ||
      type === 'number' ||
      type === 'boolean' ||
      (type === 'string' && (out.pattern !== undefined || out.enum !== undefined)));
  if (!checked) return out;
  const { description, default: fallback, ...value } = out;
  return {
    ...(description !== undefined ? { description } : {}),
    ...(fallback !== undefined ? { default: fallback } : {}),
    anyOf: [value, { $ref: '#/definitions/reference' }],
  };
}

/** The JSON Schema of reconciliation files for editors (schemas/reconciliation.schema.json). */
export function reconciliationJsonSchema(): JsonNode {
  const schema = z.toJSONSchema(reconciliationSchema, {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
  });
  const { $schema, definitions, ...rest } = allowReferences(schema) as JsonNode;
  return {
    $schema,
    title: 'Sinew reconciliation file',
    description:
      'A reconciliation: the systems it reads, the entities it compares between a source of truth and a target, when and over which period. See docs/reconciliation.md.',
    ...rest,
    definitions: { ...(definitions as JsonNode | undefined), reference: REFERENCE_DEF },
  };
}
