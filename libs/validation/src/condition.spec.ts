import { Hl7Message } from '@sinew/hl7v2';
import { compileMessageCondition, ruleCondition, type RuleCondition } from './condition';

const msg = Hl7Message.parse(
  [
    'MSH|^~\\&|LAB||||20260101||ORU^R01|7|P|2.5.1',
    'PID|1||MRN1||DOE^JANE||19800101|F',
    'OBX|1|NM|G||7.50',
  ].join('\r'),
);

const holds = (c: RuleCondition) => {
  const compiled = compileMessageCondition(c);
  expect(compiled.problems).toEqual([]);
  return compiled.test?.(msg);
};

describe('compileMessageCondition (channel filters)', () => {
  it('tests a message once compiled', () => {
    expect(holds({ path: 'MSH-9.1', equals: 'ORU' })).toBe(true);
    expect(holds({ path: 'OBX-5', equals: 7.5 })).toBe(true);
    expect(holds({ path: 'OBX-5', in: [7, 8] })).toBe(false);
    expect(holds({ path: 'PID-5.2', matches: '^JA' })).toBe(true);
    expect(holds({ not: { path: 'PID-8', in: ['M', 'U'] } })).toBe(true);
  });

  it('returns every problem with its place inside the condition, and no test', () => {
    const compiled = compileMessageCondition({
      all: [
        { path: 'MSH-9.1', equals: 'ORU' },
        { path: 'PID-8', matches: '(' },
        {
          any: [
            { path: 'PID 7', present: true },
            { path: 'PV1', equals: 'x' },
          ],
        },
        { not: { path: 'PID-8', in: ['F', ''] } },
      ],
    });
    expect(compiled.test).toBeUndefined();
    expect(compiled.problems).toEqual([
      {
        path: ['all', 1, 'matches'],
        code: 'condition.regex',
        message: '"(" is not a valid regular expression: Unterminated group',
      },
      {
        path: ['all', 2, 'any', 0, 'path'],
        code: 'condition.path',
        message: '"PID 7" is not an HL7 path (expected e.g. PID-3, PID-3[2].1, OBX[3]-5, MSH-9.2)',
      },
      {
        path: ['all', 2, 'any', 1, 'equals'],
        code: 'condition.check',
        message: '"PV1" names a segment: only present applies to it',
      },
      {
        path: ['all', 3, 'not', 'in'],
        code: 'condition.check',
        message:
          'an empty value never is in the list: an element without a value holds none (write present: false)',
      },
    ]);
  });
});

describe('ruleCondition (the schema)', () => {
  it('keeps YAML numbers as numbers and text as text', () => {
    expect(ruleCondition.parse({ path: 'OBX-5', equals: 1 })).toEqual({ path: 'OBX-5', equals: 1 });
    expect(ruleCondition.parse({ path: 'PV1-2', in: ['01', 2] })).toEqual({ path: 'PV1-2', in: ['01', 2] });
  });

  it('refuses unknown keys and empty lists', () => {
    expect(ruleCondition.safeParse({ path: 'PID-8', equal: 'F' }).success).toBe(false);
    expect(ruleCondition.safeParse({ any: [] }).success).toBe(false);
  });
});
