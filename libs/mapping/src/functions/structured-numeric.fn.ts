import { z } from 'zod';
import { MappingError, MappingErrorCode } from '../errors';
import { defineFunction } from './define';

const COMPARATORS = new Set(['<', '<=', '>', '>=']);

function decimal(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(t)) {
    throw new MappingError(MappingErrorCode.InvalidNumber, `not a number (${t.length} characters)`);
  }
  return Number(t);
}

/**
 * HL7 SN (structured numeric: comparator^num1^separator^num2) as the V2-to-FHIR guide's
 * SN[Quantity], SN[Range] and SN[Ratio] maps read it. The map picks the shape by SN.1 and SN.3.
 */
export const structuredNumeric = defineFunction({
  name: 'structured_numeric',
  summary:
    'An HL7 SN (`>^100`, `^10^-^20`, `^1^:^128`) as a FHIR Quantity, Range or Ratio (without units), or as text.',
  params: z.strictObject({ as: z.enum(['quantity', 'range', 'ratio', 'text']) }),
  examples: [
    { input: '>^100', args: { as: 'quantity' }, output: { value: 100, comparator: '>' } },
    { input: '=^7.5', args: { as: 'quantity' }, output: { value: 7.5 } },
    { input: '^10^-^20', args: { as: 'range' }, output: { low: { value: 10 }, high: { value: 20 } } },
    {
      input: '<^1^:^128',
      args: { as: 'ratio' },
      output: { numerator: { value: 1, comparator: '<' }, denominator: { value: 128 } },
    },
    { input: '<>^5^+', args: { as: 'text' }, output: '<> 5 +' },
    { input: '^abc', args: { as: 'quantity' }, error: 'map.invalid_number' },
  ],
  run(value, args) {
    const [comparator = '', num1 = '', separator = '', num2 = ''] = value.split('^');
    if (args.as === 'text') {
      const text = [comparator, num1, separator, num2]
        .map((p) => p.trim())
        .filter(Boolean)
        .join(' ');
      return text || undefined;
    }
    const first = decimal(num1);
    const second = decimal(num2);
    const cmp = COMPARATORS.has(comparator.trim()) ? comparator.trim() : undefined;
    if (args.as === 'range') {
      const range: Record<string, unknown> = {};
      if (first !== undefined) range.low = { value: first };
      if (second !== undefined) range.high = { value: second };
      return Object.keys(range).length ? range : undefined;
    }
    if (args.as === 'ratio') {
      if (first === undefined && second === undefined) return undefined;
      const ratio: Record<string, unknown> = {};
      if (first !== undefined) ratio.numerator = cmp ? { value: first, comparator: cmp } : { value: first };
      if (second !== undefined) ratio.denominator = { value: second };
      return ratio;
    }
    if (first === undefined) return undefined;
    return cmp ? { value: first, comparator: cmp } : { value: first };
  },
});
