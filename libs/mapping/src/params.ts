import { z } from 'zod';
import { MappingError, MappingErrorCode } from './errors';

/** A parameter's value: text, a whole number or a yes/no. */
export type ParamValue = string | number | boolean;

const paramValue = z.union([z.string(), z.number(), z.boolean()]);

/**
 * One parameter a message map takes (`params: { event: { enum: [A31, A28], default: A31 } }`):
 * its type, the values it may take, its default (a parameter without one must be given) and
 * what it is for. Rules read it as `%event` (in FHIRPath expressions too).
 */
export const paramSpec = z
  .strictObject({
    type: z.enum(['string', 'integer', 'boolean']).default('string'),
    enum: z.array(paramValue).min(1).optional(),
    default: paramValue.optional(),
    description: z.string().optional(),
  })
  .superRefine((p, ctx) => {
    for (const v of [...(p.enum ?? []), ...(p.default === undefined ? [] : [p.default])]) {
      const problem = typeProblem(p.type, v);
      if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)}: ${problem}` });
    }
    if (p.default !== undefined && p.enum && !p.enum.includes(p.default)) {
      ctx.addIssue({ code: 'custom', message: `the default ${String(p.default)} is not one of enum` });
    }
  });
export type ParamSpec = z.output<typeof paramSpec>;

/** The parameters of a map, by name (`snake_case`). */
export const paramsSpec = z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), paramSpec);
export type ParamsSpec = z.output<typeof paramsSpec>;

/** A bare parameter path: `%event`. */
export const PARAM_PATH = /^%([a-z][a-z0-9_]*)$/;

/**
 * Variables FHIRPath defines itself (`%ucum` …) and `%rootResource` (the whole input, which a
 * FHIR-sourced map's paths may read from anywhere): never map parameters.
 */
const FHIRPATH_VARIABLES = new Set(['ucum', 'sct', 'loinc', 'rootResource']);

/** The `%name` variables a FHIRPath expression reads, outside its string literals. */
export function paramsRead(expression: string): string[] {
  const names: string[] = [];
  const unquoted = expression.replace(/'(?:[^'\\]|\\.)*'/g, "''").replace(/`(?:[^`\\]|\\.)*`/g, '``');
  for (const m of unquoted.matchAll(/%([A-Za-z_][A-Za-z0-9_]*)/g)) {
    const name = m[1] as string;
    if (!FHIRPATH_VARIABLES.has(name) && !names.includes(name)) names.push(name);
  }
  return names;
}

function typeProblem(type: ParamSpec['type'], v: unknown): string | undefined {
  switch (type) {
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v) ? undefined : 'not an integer';
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'not true or false';
    default:
      return typeof v === 'string' ? undefined : 'not text';
  }
}

/** A problem with the parameters given to a map: which one, and why. */
export interface ParamProblem {
  name: string;
  message: string;
}

/**
 * Checks the values given to a map against its parameters: unknown names, values of another
 * type or outside `enum`, parameters without a default left out. Text values (`--param
 * event=A28`, YAML `'3'`) are read as the parameter's type when they spell one.
 */
export function checkParams(
  spec: ParamsSpec,
  given: Readonly<Record<string, unknown>>,
): { values: Record<string, ParamValue>; problems: ParamProblem[] } {
  const values: Record<string, ParamValue> = {};
  const problems: ParamProblem[] = [];
  const known = Object.keys(spec);
  for (const [name, raw] of Object.entries(given)) {
    const p = Object.prototype.hasOwnProperty.call(spec, name) ? spec[name] : undefined;
    if (p === undefined) {
      problems.push({
        name,
        message: known.length
          ? `no parameter named ${name} (the map takes ${known.join(', ')})`
          : `no parameter named ${name} (the map takes none)`,
      });
      continue;
    }
    const v = coerce(p.type, raw);
    const problem = typeProblem(p.type, v);
    if (problem) {
      problems.push({
        name,
        message: `parameter ${name} is ${p.type}: ${JSON.stringify(raw)} is ${problem}`,
      });
      continue;
    }
    if (p.enum && !p.enum.includes(v as ParamValue)) {
      problems.push({
        name,
        message: `parameter ${name} is one of ${p.enum.map(String).join(', ')}, not ${JSON.stringify(raw)}`,
      });
      continue;
    }
    values[name] = v as ParamValue;
  }
  for (const [name, p] of Object.entries(spec)) {
    if (name in values || problems.some((x) => x.name === name)) continue;
    if (p.default !== undefined) values[name] = p.default;
    else problems.push({ name, message: `parameter ${name} has no default: give a value` });
  }
  return { values, problems };
}

/** `checkParams`, throwing a MappingError (`map.param`) that names every problem. */
export function resolveParams(
  spec: ParamsSpec,
  given: Readonly<Record<string, unknown>>,
  transformer: string,
): Record<string, ParamValue> {
  const { values, problems } = checkParams(spec, given);
  if (problems.length) {
    throw new MappingError(
      MappingErrorCode.Param,
      `${transformer}: ${problems.map((p) => p.message).join('; ')}`,
    );
  }
  return values;
}

/** A text value read as `type` when it spells one (`3`, `true`); other values unchanged. */
function coerce(type: ParamSpec['type'], v: unknown): unknown {
  if (typeof v !== 'string') return v;
  if (type === 'integer' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  if (type === 'boolean' && /^(true|false)$/.test(v.trim())) return v.trim() === 'true';
  return v;
}

/** `event=A28` (a `--param` option) as name and value. */
export function parseParamOption(text: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) {
    throw new MappingError(MappingErrorCode.Param, `--param takes name=value, not ${JSON.stringify(text)}`);
  }
  return [text.slice(0, at).trim(), text.slice(at + 1)];
}
