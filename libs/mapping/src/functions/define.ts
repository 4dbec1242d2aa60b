import type { z } from 'zod';
import { MappingError, MappingErrorCode } from '../errors';

/** What a vocabulary gives for a code (the lookup a function that uses one is handed). */
export type VocabularyLookup = (code: string) => { code: string } | undefined;

/** One documented example: the input and arguments, and the output or the error code. */
export interface FunctionExample {
  input: string;
  args?: Record<string, unknown>;
  /** The entries of the function's vocabulary in this example (`vocabulary`). */
  vocabulary?: Record<string, string>;
  output?: unknown;
  error?: MappingErrorCode;
}

/**
 * A function a transformer rule may call (`fn: hl7_date`). Declared once: name, summary,
 * parameter schema, examples (each one is run by the test suite) and the implementation.
 */
export interface MappingFunction<P extends z.ZodType = z.ZodType> {
  name: string;
  summary: string;
  params: P;
  examples: FunctionExample[];
  /**
   * A vocabulary the function reads when the library has one of this name (a site's own
   * table, in a transformer folder of its own); `run` gets its lookup.
   */
  vocabulary?: string;
  /** Returns the mapped value, or `undefined` for "no value". Throws MappingError. */
  run(value: string, args: z.output<P>, vocabulary?: VocabularyLookup): unknown;
}

export function defineFunction<P extends z.ZodType>(fn: MappingFunction<P>): MappingFunction<P> {
  return fn;
}

/** Validates arguments once, at compile time, and returns a function of the value alone. */
export function bindFunction(
  fn: MappingFunction,
  args: unknown,
  where: string,
  vocabulary?: VocabularyLookup,
): (value: string) => unknown {
  const parsed = fn.params.safeParse(args ?? {});
  if (!parsed.success) {
    throw new MappingError(
      MappingErrorCode.InvalidArgs,
      `${where}: arguments of ${fn.name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'args'} ${i.message}`).join('; ')}`,
    );
  }
  const bound = parsed.data;
  return (value: string) => fn.run(value, bound, vocabulary);
}
