/**
 * A project's own functions: `*.fn.js`, `*.fn.cjs` or `*.fn.ts` files in any transformer folder,
 * each exporting one function declaration (or a list of them) shaped like the built-ins (name,
 * summary, parameter schema, examples, `run`). They are loaded with the transformers, so every
 * place that loads a transformer folder (the engine and its pipeline threads, `sinew lint`,
 * `sinew test`, `sinew convert`) sees them; they run in the thread that runs the map, with no
 * sandbox per message, and each call is held to a time limit.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { z } from 'zod';
import { MappingError, MappingErrorCode } from './errors';
import { bindFunction, type FunctionExample, type MappingFunction } from './functions';
import type { TransformerTestResult } from './testing';

/** The name of a function file: `normalise-mrn.fn.ts`. */
export const USER_FUNCTION_FILE = /\.fn\.(js|cjs|ts)$/;

/** How long one call may take unless the declaration says otherwise. */
export const DEFAULT_FUNCTION_TIMEOUT_MS = 50;

/** A project function as loaded: the declaration, its file, and its limit per call. */
export interface UserFunction {
  fn: MappingFunction;
  file: string;
  timeoutMs: number;
}

const example = z.strictObject({
  input: z.string(),
  args: z.record(z.string(), z.unknown()).optional(),
  vocabulary: z.record(z.string(), z.string()).optional(),
  output: z.unknown().optional(),
  error: z.string().optional(),
});

const declaration = z.object({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_]*$/, 'a name of lower-case letters, digits and _, starting with a letter'),
  summary: z.string().min(1),
  params: z
    .custom<z.ZodType | ((zod: typeof z) => z.ZodType)>(
      (v) =>
        typeof v === 'function' ||
        (typeof v === 'object' && v !== null && typeof (v as z.ZodType).safeParse === 'function'),
      "a zod schema, or a function (z) => schema given Sinew's zod",
    )
    .optional(),
  examples: z.array(example).min(1, 'at least one example, which `sinew test` runs'),
  vocabulary: z.string().optional(),
  timeout_ms: z.number().int().positive().max(10_000).optional(),
  run: z.custom<MappingFunction['run']>((v) => typeof v === 'function', 'a function'),
});

/** A module's exports as declarations: `module.exports = {…}`, a list, or `export default`. */
function declarationsOf(exported: unknown): unknown[] {
  const value =
    exported && typeof exported === 'object' && 'default' in exported
      ? (exported as { default: unknown }).default
      : exported;
  return Array.isArray(value) ? value : [value];
}

/** Compiles TypeScript to CommonJS with esbuild (types are stripped, not checked). */
function transpile(source: string, file: string): string {
  let esbuild: { transformSync(code: string, options: object): { code: string } };
  try {
    // Loaded on first use: only projects with TypeScript functions need it.
    esbuild = createRequire(__filename)('esbuild') as typeof esbuild;
  } catch {
    throw new MappingError(
      MappingErrorCode.Function,
      'TypeScript functions are compiled with esbuild, which is not installed: write the function in JavaScript (.fn.js)',
      { file },
    );
  }
  return esbuild.transformSync(source, { loader: 'ts', format: 'cjs', target: 'node20', sourcefile: file })
    .code;
}

/** Node's module constructor with the two members it does not declare in its types. */
type CompilableModule = Module & { _compile(code: string, filename: string): void };
type ModuleStatics = { _nodeModulePaths(dir: string): string[] };

function loadModule(path: string): unknown {
  if (!path.endsWith('.ts')) return createRequire(path)(path);
  const m = new Module(path) as CompilableModule;
  m.filename = path;
  m.paths = (Module as unknown as ModuleStatics)._nodeModulePaths(dirname(path));
  m._compile(transpile(readFileSync(path, 'utf8'), path), path);
  return m.exports;
}

/**
 * The declaration with its `run` held to the time limit: a call that throws something other
 * than a MappingError, or takes longer than the limit, fails as `map.function`, so that the
 * rule calling it is dropped with a warning (or fails the message when it is required).
 */
function guarded(fn: MappingFunction, timeoutMs: number, file: string): MappingFunction {
  const run: MappingFunction['run'] = (value, args, vocabulary) => {
    const started = performance.now();
    let out: unknown;
    try {
      out = fn.run(value, args, vocabulary);
    } catch (err) {
      if (err instanceof MappingError) throw err;
      // The message of a project's error may quote the value: only its kind is kept.
      const kind = err instanceof Error ? err.name : typeof err;
      throw new MappingError(MappingErrorCode.Function, `function ${fn.name} (${file}) threw ${kind}`);
    }
    const took = performance.now() - started;
    if (took > timeoutMs) {
      throw new MappingError(
        MappingErrorCode.Function,
        `function ${fn.name} (${file}) took ${took.toFixed(0)} ms; its limit is ${timeoutMs} ms`,
      );
    }
    if (out !== undefined && out !== null && typeof (out as Promise<unknown>).then === 'function') {
      throw new MappingError(
        MappingErrorCode.Function,
        `function ${fn.name} (${file}) returned a promise; functions run synchronously`,
      );
    }
    return out;
  };
  return { ...fn, run };
}

/** Every function file under `dir`, in name order. */
function functionFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules') out.push(...functionFiles(path));
    } else if (USER_FUNCTION_FILE.test(name)) out.push(path);
  }
  return out;
}

/** Whether `dir` holds a function file. */
export function hasUserFunctions(dir: string): boolean {
  return functionFiles(dir).length > 0;
}

/**
 * Loads the function files under `dir`. Throws MappingError naming the file for a file that
 * does not load or a declaration that is not one.
 */
export function loadUserFunctions(dir: string): UserFunction[] {
  const out: UserFunction[] = [];
  for (const path of functionFiles(dir)) {
    const shown = relative(process.cwd(), path) || path;
    let exported: unknown;
    try {
      exported = loadModule(path);
    } catch (err) {
      if (err instanceof MappingError) throw err;
      throw new MappingError(
        MappingErrorCode.Function,
        `cannot load the function file: ${err instanceof Error ? err.message : String(err)}`,
        { file: shown },
      );
    }
    declarationsOf(exported).forEach((d, i) => {
      const parsed = declaration.safeParse(d);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = [
          declarationsOf(exported).length > 1 ? `[${i}]` : '',
          ...(issue?.path ?? []).map(String),
        ]
          .filter(Boolean)
          .join('.');
        throw new MappingError(
          MappingErrorCode.Schema,
          `not a function declaration: ${where || '(export)'}: ${issue?.message ?? 'invalid'}`,
          { file: shown },
        );
      }
      const spec = parsed.data;
      const params = typeof spec.params === 'function' ? spec.params(z) : spec.params;
      if (params !== undefined && typeof (params as { safeParse?: unknown }).safeParse !== 'function') {
        throw new MappingError(
          MappingErrorCode.Schema,
          `params of ${spec.name}: (z) => … gave no zod schema`,
          {
            file: shown,
          },
        );
      }
      const fn: MappingFunction = {
        name: spec.name,
        summary: spec.summary,
        params: params ?? z.strictObject({}),
        examples: spec.examples as FunctionExample[],
        vocabulary: spec.vocabulary,
        run: spec.run,
      };
      const timeoutMs = spec.timeout_ms ?? DEFAULT_FUNCTION_TIMEOUT_MS;
      out.push({ fn: guarded(fn, timeoutMs, shown), file: shown, timeoutMs });
    });
  }
  return out;
}

/** The line of a function file where the `index`-th example starts (`input:`), else 1. */
function exampleLine(text: string, index: number): number {
  const lines = text.split(/\r?\n/);
  let seen = -1;
  for (let i = 0; i < lines.length; i++) {
    if (/\binput\s*:/.test(lines[i] as string) && ++seen === index) return i + 1;
  }
  return 1;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Runs the declared examples of a project function, as `sinew test` does: each gives the
 * output it declares, or fails with the error code it declares.
 */
export function runFunctionExamples(u: UserFunction): TransformerTestResult[] {
  let text = '';
  try {
    text = readFileSync(u.file, 'utf8');
  } catch {
    // Only the line numbers need the text.
  }
  return u.fn.examples.map((ex, i) => {
    const name = `${u.fn.name} example ${i + 1}: ${JSON.stringify(ex.input)}`;
    const failures: string[] = [];
    const table = ex.vocabulary;
    const lookup = table
      ? (code: string) => (table[code] === undefined ? undefined : { code: table[code] as string })
      : undefined;
    try {
      const out = bindFunction(u.fn, ex.args, u.file, lookup)(ex.input);
      if (ex.error !== undefined) failures.push(`expected the error ${ex.error}, got ${JSON.stringify(out)}`);
      else if (!same(out, ex.output))
        failures.push(`expected ${JSON.stringify(ex.output)}, got ${JSON.stringify(out)}`);
    } catch (err) {
      const code = err instanceof MappingError ? err.code : 'an exception';
      if (ex.error === undefined || code !== ex.error)
        failures.push(
          `expected ${ex.error === undefined ? JSON.stringify(ex.output) : `the error ${ex.error}`}, ` +
            `got ${code}: ${err instanceof Error ? err.message : String(err)}`,
        );
    }
    return { file: u.file, line: exampleLine(text, i), name, passed: failures.length === 0, failures };
  });
}
