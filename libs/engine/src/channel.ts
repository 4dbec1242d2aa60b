import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { yamlPosition } from '@sinew/mapping';
import { ruleCondition, validationRulesSchema } from '@sinew/validation';

/** `500ms`, `30s`, `5m`, `24h`, `7d`, or a number of milliseconds. */
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${String(v)} (write 500ms, 30s, 5m, 24h, 7d)` });
    return z.NEVER;
  }
  return ms;
});

/** Channel, destination and key names: they become parts of queue names and job ids. */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const name = z.string().regex(NAME, 'letters, digits, `_` and `-` only (at most 64)');

/** A condition on the message: HL7 paths (`{ path: MSH-9.2, equals: R01 }`) or FHIRPath. */
export const filterCondition = z.union([
  ruleCondition,
  z.strictObject({ fhirpath: z.string().min(1).describe('a FHIRPath expression; true keeps the message') }),
]);
export type FilterCondition = z.output<typeof filterCondition>;

const stepPolicy = z.enum(['reject', 'dead_letter', 'continue']);

export const pipelineStepSchema = z.union([
  z.strictObject({
    filter: filterCondition.describe(
      'keeps the messages for which the condition holds; the others are recorded as filtered',
    ),
  }),
  z.strictObject({
    validate: z.strictObject({
      rules: validationRulesSchema.default([]).describe('declarative rules (docs/validation.md)'),
      structure: z
        .boolean()
        .default(false)
        .describe('also check the HL7 message structure of its type and version'),
      policy: stepPolicy
        .default('reject')
        .describe(
          'what an error does: reject (negative ACK when ack.when is processed), dead_letter, continue',
        ),
    }),
  }),
  z.strictObject({
    map: z.strictObject({
      transformer: z.string().min(1).describe('a transformer name (built-in or under --transformers)'),
      validate_output: z
        .boolean()
        .default(false)
        .describe('validate the output (FHIR R4 validity, or HL7 structure)'),
      policy: stepPolicy.default('dead_letter').describe('what a mapping error does'),
    }),
  }),
]);
export type PipelineStep = z.output<typeof pipelineStepSchema>;

export const retrySchema = z.strictObject({
  attempts: z.number().int().min(1).max(1000).default(10).describe('attempts in all, first included'),
  initial_delay: duration.default(1_000).describe('delay before the first retry'),
  multiplier: z.number().min(1).max(10).default(2).describe('each retry waits this many times longer'),
  max_delay: duration.default(300_000).describe('upper bound of one delay'),
  jitter: z.number().min(0).max(1).default(0.2).describe('random spread, as a fraction of the delay'),
});
export type RetryPolicy = z.output<typeof retrySchema>;

/**
 * Per destination: `none` (parallel), `channel` (strict FIFO), or an HL7 path / FHIRPath
 * giving the key (FIFO per key, parallel across keys), e.g. `PID-3.1`.
 */
const ordering = z.string().min(1).default('none');

const destinationCommon = {
  name,
  type: z.string().min(1),
  ordering,
  retry: retrySchema.default(retrySchema.parse({})),
  transformer: z
    .string()
    .min(1)
    .optional()
    .describe("this destination's own transformer (else the pipeline's output, else the raw message)"),
  filter: filterCondition.optional().describe('sends only the messages for which the condition holds'),
  concurrency: z
    .number()
    .int()
    .min(1)
    .max(256)
    .default(4)
    .describe('deliveries of this destination at once per worker process'),
};
const DESTINATION_COMMON_KEYS = new Set(Object.keys(destinationCommon));

export const channelSchema = z.strictObject({
  id: name.describe('unique channel id'),
  description: z.string().optional(),
  enabled: z.boolean().default(true),
  source: z.looseObject({ type: z.string().min(1) }).describe('the source connector and its settings'),
  ack: z
    .strictObject({
      when: z
        .enum(['received', 'processed'])
        .default('received')
        .describe('received: ACK once committed; processed: after the pipeline'),
      mode: z
        .enum(['original', 'enhanced'])
        .default('original')
        .describe('original: AA/AE/AR; enhanced: CA/CE/CR commit ACKs'),
      timeout: duration
        .default(10_000)
        .describe('with when: processed, how long the ACK may wait for the pipeline'),
    })
    .default({ when: 'received', mode: 'original', timeout: 10_000 }),
  duplicates: z
    .strictObject({
      window: duration
        .default(86_400_000)
        .describe('same sender + MSH-10 within this window gets the original ACK; 0 turns detection off'),
    })
    .default({ window: 86_400_000 }),
  keys: z
    .record(name, z.string().min(1))
    .default({})
    .describe('business keys to index: name → HL7 path (mrn: PID-3.1)'),
  pipeline: z.array(pipelineStepSchema).default([]),
  destinations: z.array(z.looseObject(destinationCommon)).default([]),
});

export type ChannelSpec = z.output<typeof channelSchema>;

export interface DestinationSpec {
  name: string;
  type: string;
  ordering: string;
  retry: RetryPolicy;
  transformer?: string;
  filter?: FilterCondition;
  concurrency: number;
  /** The connector's own settings (everything else in the entry). */
  config: Record<string, unknown>;
}

export interface Channel {
  spec: ChannelSpec;
  file: string;
  source: { type: string; config: Record<string, unknown> };
  destinations: DestinationSpec[];
  /** Locates a path of the document (`['destinations', 0, 'url']`) as line/column. */
  locate(path: ReadonlyArray<string | number>): { line: number; column: number };
}

/** A channel file that does not load: every problem with its place in the file. */
export class ChannelError extends Error {
  constructor(readonly problems: ChannelProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ChannelError';
  }
}

export interface ChannelProblem {
  file: string;
  line: number;
  column: number;
  /** The path inside the document (`destinations.0.url`). */
  path: string;
  message: string;
}

export function formatProblem(p: ChannelProblem): string {
  return `${p.file}:${p.line}:${p.column} ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

const ENV_REF = /\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` (and `${NAME:-default}`; NAME in capitals, so a connector's own
 * template variables such as `${messageId}` stay as they are) in every string of the document with the
 * environment's value; a value that is one whole reference to a number or `true`/`false`
 * becomes that number or boolean. A reference to an unset variable without a default is a
 * problem.
 */
function resolveEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: Array<string | number>,
  missing: Array<{ path: Array<string | number>; name: string }>,
): unknown {
  if (typeof value === 'string') {
    // A value that is one whole reference takes the variable's type: `port: ${PORT}` is a number.
    const whole = /^\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}$/.exec(value);
    if (whole) {
      const v = env[whole[1] as string] ?? whole[2];
      if (v !== undefined && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
      if (v === 'true' || v === 'false') return v === 'true';
    }
    return value.replace(ENV_REF, (_m, varName: string, fallback: string | undefined) => {
      const v = env[varName];
      if (v !== undefined) return v;
      if (fallback !== undefined) return fallback;
      missing.push({ path, name: varName });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveEnv(v, env, [...path, i], missing));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveEnv(v, env, [...path, k], missing);
    return out;
  }
  return value;
}

/** Parses one channel file's text; throws ChannelError listing every problem. */
export function parseChannel(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Channel {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ChannelError(
      doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return {
          file,
          line: pos.line,
          column: pos.col,
          path: '',
          message: `YAML: ${e.message.split('\n')[0]}`,
        };
      }),
    );
  }
  const locate = (path: ReadonlyArray<string | number>) => yamlPosition(doc, lc, path);
  const problem = (path: ReadonlyArray<string | number>, message: string): ChannelProblem => ({
    file,
    ...locate(path),
    path: path.join('.'),
    message,
  });
  const missing: Array<{ path: Array<string | number>; name: string }> = [];
  const data = resolveEnv(doc.toJS(), env, [], missing);
  const problems: ChannelProblem[] = missing.map((m) =>
    problem(m.path, `environment variable ${m.name} is not set (write \${${m.name}:-default} for a default)`),
  );
  const parsed = channelSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      problems.push(problem(path, issue.message));
    }
    throw new ChannelError(problems);
  }
  const spec = parsed.data;
  const names = new Set<string>();
  spec.destinations.forEach((d, i) => {
    if (names.has(d.name))
      problems.push(problem(['destinations', i, 'name'], `destination ${d.name} is named twice`));
    names.add(d.name);
  });
  if (problems.length) throw new ChannelError(problems);
  const { type: sourceType, ...sourceConfig } = spec.source;
  const destinations: DestinationSpec[] = spec.destinations.map((d) => {
    const config: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(d)) if (!DESTINATION_COMMON_KEYS.has(k)) config[k] = v;
    return {
      name: d.name,
      type: d.type,
      ordering: d.ordering,
      retry: d.retry,
      ...(d.transformer !== undefined ? { transformer: d.transformer } : {}),
      ...(d.filter !== undefined ? { filter: d.filter } : {}),
      concurrency: d.concurrency,
      config,
    };
  });
  return { spec, file, source: { type: sourceType, config: sourceConfig }, destinations, locate };
}

/** Every channel file (`*.yaml`, not `*.test.yaml`) directly under `dir` or its subfolders. */
export function channelFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...channelFiles(path));
    else if (/\.ya?ml$/.test(entry) && !/\.test\.ya?ml$/.test(entry)) out.push(path);
  }
  return out;
}

/** Loads every channel under `dir`; throws ChannelError with the problems of all files. */
export function loadChannels(dir: string, env: NodeJS.ProcessEnv = process.env): Channel[] {
  const channels: Channel[] = [];
  const problems: ChannelProblem[] = [];
  const ids = new Map<string, string>();
  for (const path of channelFiles(dir)) {
    const file = relative(process.cwd(), path) || path;
    try {
      const ch = parseChannel(readFileSync(path, 'utf8'), file, env);
      const other = ids.get(ch.spec.id);
      if (other)
        problems.push({
          file,
          ...ch.locate(['id']),
          path: 'id',
          message: `channel id ${ch.spec.id} is also used by ${other}`,
        });
      ids.set(ch.spec.id, file);
      channels.push(ch);
    } catch (err) {
      if (err instanceof ChannelError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (problems.length) throw new ChannelError(problems);
  return channels;
}
