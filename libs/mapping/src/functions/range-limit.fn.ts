import { z } from 'zod';
import { defineFunction } from './define';

const NUMBER = String.raw`([+-]?(?:\d+\.?\d*|\.\d+))`;
const BETWEEN = new RegExp(String.raw`^\s*${NUMBER}\s*-\s*${NUMBER}\s*$`);
const BELOW = new RegExp(String.raw`^\s*<=?\s*${NUMBER}\s*$`);
const ABOVE = new RegExp(String.raw`^\s*>=?\s*${NUMBER}\s*$`);

/**
 * The low or high limit of a reference range as labs write it in OBX-7: `3.5-5.0`, `<200`,
 * `>=60`. Anything else (`negative`, `see note`) has no limits and stays text only.
 */
export const rangeLimit = defineFunction({
  name: 'range_limit',
  summary: 'The low or high number of a reference range written `a-b`, `<b`, `<=b`, `>a` or `>=a` (OBX-7).',
  params: z.strictObject({ limit: z.enum(['low', 'high']) }),
  examples: [
    { input: '70-80', args: { limit: 'low' }, output: 70 },
    { input: '3.5 - 5.0', args: { limit: 'high' }, output: 5 },
    { input: '-2-2', args: { limit: 'low' }, output: -2 },
    { input: '<200', args: { limit: 'high' }, output: 200 },
    { input: '<200', args: { limit: 'low' } },
    { input: '>=60', args: { limit: 'low' }, output: 60 },
    { input: 'negative', args: { limit: 'low' } },
  ],
  run(value, args) {
    const between = BETWEEN.exec(value);
    if (between) return Number(args.limit === 'low' ? between[1] : between[2]);
    const bound = (args.limit === 'low' ? ABOVE : BELOW).exec(value);
    return bound ? Number(bound[1]) : undefined;
  },
});
