import type { z } from 'zod';
import { MappingError, MappingErrorCode } from '../errors';

/** One documented example: the input and arguments, and the output or the error code. */
export interface FunctionExample {
  input: string;
  args?: Record<string, unknown>;
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
  /** Returns the mapped value, or `undefined` for "no value". Throws MappingError. */
  run(value: string, args: z.output<P>): unknown;
}

export function defineFunction<P extends z.ZodType>(fn: MappingFunction<P>): MappingFunction<P> {
  return fn;
}

/** Validates arguments once, at compile time, and returns a function of the value alone. */
export function bindFunction(fn: MappingFunction, args: unknown, where: string): (value: string) => unknown {
  const parsed = fn.params.safeParse(args ?? {});
  if (!parsed.success) {
    throw new MappingError(
      MappingErrorCode.InvalidArgs,
      `${where}: arguments of ${fn.name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'args'} ${i.message}`).join('; ')}`,
    );
  }
  const bound = parsed.data;
  return (value: string) => fn.run(value, bound);
}
