import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { DestinationDefinition, PayloadType, SourceDefinition } from '@sinew/connectors';
import { checkParams, type MessageTransformer, type TransformerLibrary } from '@sinew/mapping';
import { compileRules, RulesCompileError, type CompiledRules } from '@sinew/validation';
import { LintCode } from './codes';
import { conditionFormProblems } from './condition-form';
import { maskSecrets, resolveReferences, type ChannelEnvironment } from './env';
import {
  compileCondition,
  compileKey,
  type ConditionTest,
  type ExpressionProblem,
  type KeyReader,
  type PayloadKind,
} from './expressions';
import type { LintProblem, Severity } from './problem';
import { z } from 'zod';
import {
  channelSchema,
  DESTINATION_COMMON_KEYS,
  destinationCommon,
  pipelineStepSchema,
  STEP_SCHEMAS,
  type PipelineStep,
  type ChannelSpec,
  type RetryPolicy,
  type StepPolicy,
} from './schema';
import { didYouMean } from './suggest';
import { readYaml, type Position } from './yaml';
import { zodProblems, type RawProblem } from './zod-problems';

/** What a channel may refer to: the connectors and the transformers. */
export interface ChannelRegistries {
  sources: Record<string, SourceDefinition>;
  destinations: Record<string, DestinationDefinition>;
  transformers: TransformerLibrary;
}

export interface CompileOptions {
  env: ChannelEnvironment;
  /** Check that TLS files named in connector settings exist (default true). */
  checkFiles?: boolean;
}

export type CompiledStep =
  | { kind: 'filter'; test: ConditionTest }
  | { kind: 'validate'; rules: CompiledRules; structure: boolean; policy: StepPolicy }
  | {
      kind: 'map';
      transformer: MessageTransformer;
      validateOutput: boolean;
      /** A required element left empty fails the step instead of taking its default. */
      strict: boolean;
      policy: StepPolicy;
    };

export type CompiledOrdering = { kind: 'none' } | { kind: 'channel' } | { kind: 'key'; read: KeyReader };

export interface CompiledDestination {
  name: string;
  type: string;
  definition: DestinationDefinition;
  /** The connector's settings as its schema parsed them. */
  config: unknown;
  retry: RetryPolicy;
  concurrency: number;
  ordering: CompiledOrdering;
  filter?: ConditionTest;
  transformer?: MessageTransformer;
  payload: 'output' | 'raw';
  /** The destination whose delivery of a message this one's waits for (`after:`). */
  after?: string;
}

/** A channel that passed every check: what the engine deploys and `sinew test` runs. */
export interface CompiledChannel {
  id: string;
  file: string;
  /** The file's text as compiled (deployment history keeps it). */
  text: string;
  /** sha256 of the text, hex. */
  hash: string;
  spec: ChannelSpec;
  source: { type: string; definition: SourceDefinition; config: unknown; produces: readonly PayloadKind[] };
  keys: ReadonlyArray<{ name: string; read: KeyReader }>;
  steps: readonly CompiledStep[];
  destinations: readonly CompiledDestination[];
  /** Values that came from secrets; masked wherever the configuration is shown. */
  secrets: ReadonlySet<string>;
  /** The resolved document (values substituted), for `sinew config show`. */
  resolved: unknown;
  locate(path: ReadonlyArray<string | number>): Position;
}

export interface CompileResult {
  /** Set when there is no error (warnings may remain). */
  channel?: CompiledChannel;
  problems: LintProblem[];
}

const destinationEntry = z.looseObject(destinationCommon);
type DestinationEntry = z.output<typeof destinationEntry>;

const ALL_KINDS: readonly PayloadKind[] = ['hl7v2', 'fhir', 'json'];

function kindsText(kinds: readonly string[]): string {
  return kinds.join(', ');
}

/** `rules[2].when.all[1].path` → `['rules', 2, 'when', 'all', 1, 'path']`. */
function wherePath(where: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of where.matchAll(/([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else out.push(Number(m[2]));
  }
  return out;
}

/** PEM settings that name files (not PEM text) which do not exist. */
function missingTlsFiles(config: unknown, path: Array<string | number>): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  const tls = (config as { tls?: unknown } | undefined)?.tls;
  if (!tls || typeof tls !== 'object') return out;
  for (const key of ['key', 'cert', 'ca']) {
    const v = (tls as Record<string, unknown>)[key];
    if (typeof v === 'string' && v !== '' && !v.includes('-----BEGIN') && !existsSync(v))
      out.push([...path, 'tls', key]);
  }
  return out;
}

/**
 * The channel compiler: runs every check on one channel file and compiles every expression
 * in it (HL7 paths, FHIRPath, regular expressions, keys, ordering, rules, durations), resolves
 * `${…}` references, checks connector settings against each connector's schema and that each
 * destination accepts the payload that reaches it. Problems carry the exact YAML position.
 * `sinew lint`, `sinew test`, deploy and the engine all use this one function.
 */
export function compileChannel(
  text: string,
  file: string,
  registries: ChannelRegistries,
  options: CompileOptions,
): CompileResult {
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
    // A value whose reference did not resolve is reported once, for the reference.
    if (unresolved.has(path.join('.')) && code !== LintCode.EnvUnset && code !== LintCode.EnvFile) return;
    const pos = at === 'key' ? yaml.keyAt(path) : yaml.valueAt(path);
    // A finding may quote a value: never a secret's.
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
  const addExpr = (base: Array<string | number>, list: readonly ExpressionProblem[]) => {
    for (const p of list) add([...base, ...p.path], p.code, p.message, p.severity);
  };
  /**
   * Transformer `t` bound to the parameter values given at `[...at, key]`; an unknown name, an
   * ill-typed value or a parameter without default left out is a lint error (and `t` unbound).
   */
  const bindParams = (
    t: MessageTransformer,
    given: Readonly<Record<string, string | number | boolean>> | undefined,
    at: ReadonlyArray<string | number>,
    key: string,
  ): MessageTransformer => {
    const found = checkParams(t.spec.params, given ?? {}).problems;
    for (const p of found) {
      const named = given !== undefined && Object.prototype.hasOwnProperty.call(given, p.name);
      const known = Object.prototype.hasOwnProperty.call(t.spec.params, p.name);
      if (named)
        add([...at, key, p.name], LintCode.TransformerParam, p.message, 'error', known ? 'value' : 'key');
      else add([...at, 'transformer'], LintCode.TransformerParam, `${t.name}: ${p.message}`);
    }
    return found.length === 0 && given !== undefined && Object.keys(given).length > 0
      ? t.withParams(given)
      : t;
  };

  if (yaml.errors.length) {
    for (const e of yaml.errors.slice(0, 1))
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
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    add([], LintCode.Type, 'a channel file is a mapping with id, source, pipeline and destinations');
    return { problems };
  }

  const resolved = resolveReferences(raw, options.env);
  secrets = resolved.secrets;
  for (const f of resolved.findings) {
    unresolved.add(f.path.join('.'));
    if (f.kind === 'file') add(f.path, LintCode.EnvFile, f.message);
    else add(f.path, LintCode.EnvUnset, f.message, options.env.strict ? 'error' : 'warning');
  }
  const data = resolved.data as Record<string, unknown>;

  // Step and condition forms first: a union's own errors would only say that nothing matched.
  const skip = new Set<string>();
  const pipelineRaw = data.pipeline;
  if (Array.isArray(pipelineRaw)) {
    pipelineRaw.forEach((step: unknown, i) => {
      const at: Array<string | number> = ['pipeline', i];
      const kinds = Object.keys(STEP_SCHEMAS);
      if (step === null || typeof step !== 'object' || Array.isArray(step)) {
        add(
          at,
          LintCode.UnknownStep,
          `a step is one of ${kinds.join(', ')}: { filter: … }, { validate: … }, { map: … }`,
        );
        skip.add(at.join('.'));
        return;
      }
      const keys = Object.keys(step);
      const known = keys.filter((k) => k in STEP_SCHEMAS);
      for (const k of keys.filter((x) => !(x in STEP_SCHEMAS)))
        add(
          [...at, k],
          LintCode.UnknownStep,
          `unknown step ${k}${didYouMean(k, kinds) || ` (steps: ${kinds.join(', ')})`}`,
          'error',
          'key',
        );
      if (known.length > 1)
        add(at, LintCode.UnknownStep, `one step per list item (found ${known.join(' and ')})`);
      if (known.length !== 1 || keys.length !== 1) {
        skip.add(at.join('.'));
        return;
      }
      if (known[0] === 'filter') {
        const found = conditionFormProblems((step as { filter: unknown }).filter, [...at, 'filter'], true);
        addRaw(found);
        if (found.length) skip.add(at.join('.'));
      }
    });
  }
  const destsRaw = data.destinations;
  if (Array.isArray(destsRaw)) {
    destsRaw.forEach((d: unknown, i) => {
      const f = (d as { filter?: unknown } | null)?.filter;
      if (f !== undefined) {
        const found = conditionFormProblems(f, ['destinations', i, 'filter'], true);
        addRaw(found);
        if (found.length) skip.add(`destinations.${i}`);
      }
    });
  }

  // Each section is parsed on its own, so that one bad section does not hide the findings of
  // the others; the checks below run on every section that parsed.
  const shape = channelSchema.shape;
  for (const key of Object.keys(data)) {
    if (!(key in shape))
      add(
        [key],
        LintCode.UnknownKey,
        `unknown key ${key}${didYouMean(key, Object.keys(shape)) || ` (allowed: ${Object.keys(shape).join(', ')})`}`,
        'error',
        'key',
      );
  }
  let failed = false;
  const section = <S extends keyof typeof shape>(
    key: S,
    value: unknown,
    path: Array<string | number>,
    schema: z.ZodType = shape[key],
  ): z.output<(typeof shape)[S]> | undefined => {
    const r = schema.safeParse(value, { reportInput: true });
    if (r.success) return r.data as z.output<(typeof shape)[S]>;
    failed = true;
    if (!skip.has(path.join('.'))) addRaw(zodProblems(r.error.issues, schema, path));
    return undefined;
  };
  section('id', data.id, ['id']);
  section('description', data.description, ['description']);
  section('enabled', data.enabled, ['enabled']);
  const sourceSpec = section('source', data.source, ['source']);
  section('ack', data.ack, ['ack']);
  section('duplicates', data.duplicates, ['duplicates']);
  const keysSpec = section('keys', data.keys, ['keys']);
  let pipelineSpec: Array<PipelineStep | undefined> = [];
  if (pipelineRaw !== undefined && !Array.isArray(pipelineRaw))
    section('pipeline', pipelineRaw, ['pipeline']);
  else if (Array.isArray(pipelineRaw))
    pipelineSpec = pipelineRaw.map((step: unknown, i) => {
      const kind = step && typeof step === 'object' ? Object.keys(step)[0] : undefined;
      const schema =
        kind && kind in STEP_SCHEMAS ? STEP_SCHEMAS[kind as keyof typeof STEP_SCHEMAS] : pipelineStepSchema;
      return section('pipeline', step, ['pipeline', i], schema) as PipelineStep | undefined;
    });
  let destinationSpecs: Array<DestinationEntry | undefined> = [];
  if (destsRaw !== undefined && !Array.isArray(destsRaw)) section('destinations', destsRaw, ['destinations']);
  else if (Array.isArray(destsRaw))
    destinationSpecs = destsRaw.map(
      (d: unknown, i) =>
        section('destinations', d, ['destinations', i], destinationEntry) as DestinationEntry | undefined,
    );
  const locate = (path: ReadonlyArray<string | number>) => yaml.valueAt(path);

  // Source.
  const { type: sourceType, ...sourceSettings } = sourceSpec ?? { type: '' };
  const sourceDef = sourceSpec ? registries.sources[sourceType] : undefined;
  let sourceConfig: unknown;
  let produces: readonly PayloadKind[] = ALL_KINDS;
  if (!sourceSpec) {
    // Reported above.
  } else if (!sourceDef) {
    const known = Object.keys(registries.sources);
    add(
      ['source', 'type'],
      LintCode.UnknownConnector,
      `unknown source type ${sourceType}${didYouMean(sourceType, known)} (sources: ${known.join(', ')})`,
    );
  } else {
    const r = sourceDef.configSchema.safeParse(sourceSettings, { reportInput: true });
    if (!r.success) {
      addRaw(zodProblems(r.error.issues, sourceDef.configSchema, ['source'], () => ['type']));
      // Still follow what the source would deliver, so the checks below keep their severity.
      const guess = sourceDef.produces(sourceSettings as never).filter((k) => k !== undefined);
      if (guess.length) produces = guess;
    } else {
      sourceConfig = r.data;
      produces = sourceDef.produces ? sourceDef.produces(r.data) : ALL_KINDS;
      if (options.checkFiles !== false)
        for (const p of missingTlsFiles(r.data, ['source']))
          add(
            p,
            LintCode.TlsFile,
            `file ${String((r.data as { tls: Record<string, unknown> }).tls[p[p.length - 1] as string])} does not exist`,
          );
    }
  }

  // Business keys.
  const keys: Array<{ name: string; read: KeyReader }> = [];
  for (const [name, expr] of Object.entries(keysSpec ?? {})) {
    const k = compileKey(expr, produces);
    addExpr(['keys', name], k.problems);
    if (k.read) keys.push({ name, read: k.read });
  }

  // Pipeline steps, following the kind of payload through them.
  const steps: CompiledStep[] = [];
  let kinds: readonly PayloadKind[] = produces;
  pipelineSpec.forEach((step, i) => {
    const at: Array<string | number> = ['pipeline', i];
    // A step that did not parse is reported above; what reaches the next step is unchanged.
    if (!step) return;
    if ('filter' in step) {
      const c = compileCondition(step.filter, kinds);
      addExpr([...at, 'filter'], c.problems);
      if (c.test) steps.push({ kind: 'filter', test: c.test });
    } else if ('validate' in step) {
      try {
        const rules = compileRules(step.validate.rules);
        steps.push({
          kind: 'validate',
          rules,
          structure: step.validate.structure,
          policy: step.validate.policy,
        });
      } catch (err) {
        if (!(err instanceof RulesCompileError)) throw err;
        for (const p of err.problems)
          add([...at, 'validate', ...wherePath(p.where)], LintCode.Rule, p.message);
      }
      if (step.validate.rules.length && !kinds.includes('hl7v2'))
        add(
          [...at, 'validate', 'rules'],
          LintCode.Rule,
          `rules read HL7 v2, but ${kindsText(kinds)} messages reach this step`,
        );
    } else {
      const name = step.map.transformer;
      const found = registries.transformers.transformers.get(name);
      if (!found) {
        add(
          [...at, 'map', 'transformer'],
          LintCode.UnknownTransformer,
          `no transformer named ${name}${didYouMean(name, registries.transformers.transformers.keys())}`,
        );
        kinds = ALL_KINDS;
        return;
      }
      const t = bindParams(found, step.map.params, [...at, 'map'], 'params');
      const unread = kinds.filter((k) => k !== t.spec.input);
      if (unread.length)
        add(
          [...at, 'map', 'transformer'],
          LintCode.TransformerInput,
          `transformer ${name} reads ${t.spec.input}, but ${kindsText(unread)} messages reach it`,
          unread.length === kinds.length ? 'error' : 'warning',
        );
      steps.push({
        kind: 'map',
        transformer: t,
        validateOutput: step.map.validate_output,
        strict: step.map.strict,
        policy: step.map.policy,
      });
      kinds = [t.spec.output];
    }
  });

  // Destinations.
  const destinations: CompiledDestination[] = [];
  const names = new Map<string, number>();
  destinationSpecs.forEach((d, i) => {
    const at: Array<string | number> = ['destinations', i];
    if (!d) return;
    if (names.has(d.name))
      add(
        [...at, 'name'],
        LintCode.DuplicateDestination,
        `destination ${d.name} is named twice (also destinations.${names.get(d.name)})`,
      );
    names.set(d.name, i);
    const settings: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(d)) if (!DESTINATION_COMMON_KEYS.has(k)) settings[k] = v;
    const def = registries.destinations[d.type];
    let config: unknown;
    if (!def) {
      const known = Object.keys(registries.destinations);
      add(
        [...at, 'type'],
        LintCode.UnknownConnector,
        `unknown destination type ${d.type}${didYouMean(d.type, known)} (destinations: ${known.join(', ')})`,
      );
    } else {
      const r = def.configSchema.safeParse(settings, { reportInput: true });
      if (!r.success)
        addRaw(zodProblems(r.error.issues, def.configSchema, at, () => [...DESTINATION_COMMON_KEYS]));
      else {
        config = r.data;
        if (options.checkFiles !== false)
          for (const p of missingTlsFiles(r.data, at))
            add(
              p,
              LintCode.TlsFile,
              `file ${String((r.data as { tls: Record<string, unknown> }).tls[p[p.length - 1] as string])} does not exist`,
            );
      }
    }
    const rawEntry = Array.isArray(destsRaw) ? (destsRaw[i] as Record<string, unknown>) : {};
    if (rawEntry && typeof rawEntry === 'object' && !('retry' in rawEntry))
      add(
        [...at, 'name'],
        LintCode.ImplicitDeadLetter,
        `destination ${d.name} leaves retries to the defaults (${d.retry.attempts} attempts, then dead-lettered): write retry: { attempts: … } to say what happens when it keeps failing`,
        'warning',
      );

    const risk = config === undefined ? undefined : repeatRisk(d.type, config);
    if (risk) {
      const explicit = rawEntry && typeof rawEntry === 'object' && risk.key in rawEntry;
      add(
        explicit ? [...at, risk.key] : [...at, 'name'],
        LintCode.ShortTimeout,
        `destination ${d.name} sends a message again when the answer takes over ${risk.timeoutMs} ms (${risk.key}${explicit ? '' : ', the default'}), and ${risk.what} cannot tell a repeat from a new message: a slower peer receives it twice. Set ${risk.key}: ${REPEAT_SAFE_TIMEOUT_MS} or more, or make sure the receiver drops repeats`,
        'warning',
      );
    }

    let ordering: CompiledOrdering = { kind: 'none' };
    if (d.ordering === 'channel') ordering = { kind: 'channel' };
    else if (d.ordering !== 'none') {
      const k = compileKey(d.ordering, produces);
      addExpr([...at, 'ordering'], k.problems);
      if (k.read) ordering = { kind: 'key', read: k.read };
    }
    let filter: ConditionTest | undefined;
    if (d.filter) {
      const c = compileCondition(d.filter, produces);
      addExpr([...at, 'filter'], c.problems);
      filter = c.test;
    }
    let transformer: MessageTransformer | undefined;
    let reaching: readonly PayloadKind[] = d.payload === 'raw' ? produces : kinds;
    if (d.transformer) {
      if (d.payload === 'raw')
        add(
          [...at, 'payload'],
          LintCode.Value,
          'payload: raw sends the message as received; it cannot go with a transformer',
        );
      transformer = registries.transformers.transformers.get(d.transformer);
      if (!transformer) {
        add(
          [...at, 'transformer'],
          LintCode.UnknownTransformer,
          `no transformer named ${d.transformer}${didYouMean(d.transformer, registries.transformers.transformers.keys())}`,
        );
        reaching = ALL_KINDS;
      } else {
        const input = transformer.spec.input;
        const unread = produces.filter((k) => k !== input);
        if (unread.length)
          add(
            [...at, 'transformer'],
            LintCode.TransformerInput,
            `transformer ${d.transformer} reads ${input}, but ${kindsText(unread)} messages reach it`,
            unread.length === produces.length ? 'error' : 'warning',
          );
        reaching = [transformer.spec.output];
        transformer = bindParams(transformer, d.transformer_params, at, 'transformer_params');
      }
    } else if (d.transformer_params)
      add(
        [...at, 'transformer_params'],
        LintCode.TransformerParam,
        'transformer_params needs a transformer',
        'error',
        'key',
      );
    const accepts = def?.accepts as readonly PayloadType[] | undefined;
    if (def && accepts) {
      const refused = reaching.filter((k) => !accepts.includes(k));
      if (refused.length)
        add(
          [...at, 'type'],
          LintCode.PayloadType,
          `a ${d.type} destination sends ${kindsText(accepts)}, but ${kindsText(refused)} reaches it${
            refused.includes('hl7v2') && accepts.includes('fhir')
              ? ' (add a map step or a transformer that produces FHIR)'
              : ''
          }`,
          refused.length === reaching.length ? 'error' : 'warning',
        );
    }
    if (def && config !== undefined)
      destinations.push({
        name: d.name,
        type: d.type,
        definition: def,
        config,
        retry: d.retry,
        concurrency: d.concurrency,
        ordering,
        ...(filter ? { filter } : {}),
        ...(transformer ? { transformer } : {}),
        payload: d.payload,
        ...(d.after !== undefined ? { after: d.after } : {}),
      });
  });
  checkAfter(destinationSpecs, add);

  if (failed || problems.some((p) => p.severity === 'error') || !sourceDef || sourceConfig === undefined)
    return { problems };
  const spec = channelSchema.parse(data);
  return {
    problems,
    channel: {
      id: spec.id,
      file,
      text,
      hash: createHash('sha256').update(text).digest('hex'),
      spec,
      source: { type: sourceType, definition: sourceDef, config: sourceConfig, produces },
      keys,
      steps,
      destinations,
      secrets: resolved.secrets,
      resolved: resolved.data,
      locate,
    },
  };
}

/** A response timeout from which `destination.short_timeout` no longer warns. */
const REPEAT_SAFE_TIMEOUT_MS = 30_000;

/**
 * The response timeout of a destination whose requests are not idempotent, when it is under
 * `REPEAT_SAFE_TIMEOUT_MS`: after it the message is sent again, and the peer may have taken it.
 */
function repeatRisk(
  type: string,
  config: unknown,
): { key: string; timeoutMs: number; what: string } | undefined {
  const c = config as Record<string, unknown>;
  let key: string;
  let what: string;
  if (type === 'http') {
    if (c.method === 'PUT') return undefined;
    key = 'timeout_ms';
    what = `HTTP ${String(c.method)}`;
  } else if (type === 'fhir') {
    if (c.mode === 'update' || c.mode === 'conditional') return undefined;
    key = 'timeout_ms';
    what = `FHIR ${String(c.mode)}`;
  } else if (type === 'mllp') {
    key = 'ack_timeout_ms';
    what = 'MLLP';
  } else return undefined;
  const timeoutMs = c[key];
  return typeof timeoutMs === 'number' && timeoutMs < REPEAT_SAFE_TIMEOUT_MS
    ? { key, timeoutMs, what }
    : undefined;
}

type AddProblem = (
  path: ReadonlyArray<string | number>,
  code: LintProblem['code'],
  message: string,
  severity?: Severity,
) => void;

/**
 * Checks the destinations' `after` settings: each names another destination of the channel,
 * they wait for one another in no circle, and a warning when the awaited destination has a
 * filter (a message it skips dead-letters the one waiting for it).
 */
function checkAfter(specs: ReadonlyArray<DestinationEntry | undefined>, add: AddProblem): void {
  const index = new Map<string, number>();
  specs.forEach((d, i) => {
    if (d && !index.has(d.name)) index.set(d.name, i);
  });
  specs.forEach((d, i) => {
    if (d?.after === undefined) return;
    const at = ['destinations', i, 'after'];
    if (d.after === d.name) {
      add(at, LintCode.AfterUnknown, `destination ${d.name} cannot wait for itself (after: ${d.after})`);
      return;
    }
    const j = index.get(d.after);
    if (j === undefined) {
      add(
        at,
        LintCode.AfterUnknown,
        `destination ${d.name} waits for ${d.after}, which is no destination of this channel${didYouMean(d.after, index.keys())}`,
      );
      return;
    }
    // Follow the chain from this destination: coming back to it is a circle (reported once per member).
    const chain = [d.name];
    for (let next = specs[j]; next;) {
      chain.push(next.name);
      if (next.name === d.name) {
        add(at, LintCode.AfterCycle, `destinations wait for one another in a circle: ${chain.join(' → ')}`);
        return;
      }
      if (next.after === undefined || chain.length > specs.length + 1) break;
      const k = index.get(next.after);
      next = k === undefined ? undefined : specs[k];
    }
    if (specs[j]?.filter !== undefined)
      add(
        at,
        LintCode.AfterFiltered,
        `destination ${d.after} has a filter: a message it skips has no delivery there, and ${d.name}'s delivery of it is dead-lettered`,
        'warning',
      );
  });
}
