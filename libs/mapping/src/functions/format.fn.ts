import { z } from 'zod';
import { defineFunction } from './define';

/** Component `n` or subcomponent `n.m` of a composite value as the rules see it (`^`, `&`). */
function part(value: string, ref: string): string {
  const [c, s] = ref.split('.').map(Number);
  const component = value.split('^')[(c as number) - 1] ?? '';
  return s === undefined ? component : (component.split('&')[s - 1] ?? '');
}

const fill = (value: string, text: string) =>
  text.replace(/\{(\d+(?:\.\d+)?)\}/g, (_, ref) => part(value, ref));

/**
 * Text built from the components of a composite value: `{2}` is component 2, `{2.1}` its first
 * subcomponent. A part in brackets is left out when any component it names is empty, so
 * `[+{5} ]{6} {7}[ X{8}]` writes the country code and extension only when they were sent.
 * Runs of spaces collapse to one; spaces and commas at either end are trimmed; an empty result
 * is no value.
 */
export const format = defineFunction({
  name: 'format',
  summary:
    'Text from the components of a composite value: `{2}`, `{2.1}` name them; `[...]` parts are left out when a component in them is empty.',
  params: z.strictObject({ pattern: z.string().min(1) }),
  examples: [
    {
      input: '^PRN^PH^^1^555^1234567^22',
      args: { pattern: '[+{5} ]{6} {7}[ X{8}]' },
      output: '+1 555 1234567 X22',
    },
    { input: '^PRN^PH^^^555^1234567', args: { pattern: '[+{5} ]{6} {7}[ X{8}]' }, output: '555 1234567' },
    {
      input: '1234^Woolfson&van^Kathleen^^Jr',
      args: { pattern: '{3} {4} {2.1}[, {5}]' },
      output: 'Kathleen Woolfson, Jr',
    },
    {
      input: '^^^HOSP',
      args: { pattern: '[{1}][ {2}][ {3}][, {4}]' },
      output: 'HOSP',
    },
    { input: '^^^', args: { pattern: '[{1}][ {2}]' } },
  ],
  run(value, args) {
    const text = args.pattern
      .replace(/\[([^\]]*)\]/g, (_, inner: string) => {
        const refs = [...inner.matchAll(/\{(\d+(?:\.\d+)?)\}/g)].map((m) => m[1] as string);
        return refs.every((r) => part(value, r) !== '') ? fill(value, inner) : '';
      })
      .replace(/\{(\d+(?:\.\d+)?)\}/g, (_, ref) => part(value, ref));
    const out = text.replace(/\s+/g, ' ').replace(/^[\s,]+|[\s,]+$/g, '');
    return out === '' ? undefined : out;
  },
});
