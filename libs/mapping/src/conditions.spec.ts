import { Hl7Message } from '@sinew/hl7v2';
import { parseTransformerFile, TransformerLibrary } from '@sinew/mapping';
import { compileMessageCondition, compileRules, type RuleCondition } from '@sinew/validation';

/**
 * The three users of the condition language (a channel filter, a validation rule's `when`, a
 * transformer rule's `when`) give the same answer on the same message.
 */
const message = Hl7Message.parse(
  [
    'MSH|^~\\&|LAB|CLINIC|EHR|CLINIC|20260101||ORU^R01|7|P|2.5.1',
    'PID|1||MRN1^^^CLINIC^MR~999-00-0001^^^USSSA^SS||DOE^JANE||19800101|""|||||||||||||||||||||',
    'PV2|',
    'OBR|1|||GLU',
    'OBX|1|NM|G1||1.0|||N',
    'OBX|2|NM|G2||01|||A',
    'OBX|3|ST|G3||F  |||',
  ].join('\r'),
);

/** A filter: keeps the message when the condition holds. */
function filter(c: RuleCondition): boolean {
  const { test, problems } = compileMessageCondition(c);
  if (!test) throw new Error(problems.map((p) => p.message).join('; '));
  return test(message);
}

/** A validation rule that always fails (ZZZ-1 is required and absent) and so fires only `when` it holds. */
function validation(c: RuleCondition): boolean {
  return (
    compileRules([{ code: 'x.fired', path: 'ZZZ-1', required: true, when: c }]).validate(message).length === 1
  );
}

/** A transformer rule at message level that writes a constant only `when` it holds. */
function transformer(c: RuleCondition): boolean {
  const file = parseTransformerFile(
    JSON.stringify({
      transformer: 'when-test',
      input: 'hl7v2',
      output: 'json',
      resources: [{ name: 'out', rules: [{ const: 'yes', to: 'fired', when: c }] }],
    }),
    'when-test.yaml',
  );
  const out = TransformerLibrary.fromFiles([file]).get('when-test').run(message) as { fired?: string };
  return out.fired === 'yes';
}

const cases: Array<[string, RuleCondition, boolean]> = [
  ['HL7 null "" holds no value (present)', { path: 'PID-8', present: true }, false],
  ['HL7 null "" holds no value (absent)', { path: 'PID-8', present: false }, true],
  ['HL7 null "" matches nothing', { path: 'PID-8', matches: '.*' }, false],
  ['an absent element matches nothing', { path: 'PID-19', matches: '^$' }, false],
  ['a YAML number equals 1.0', { path: 'OBX-5', equals: 1 }, true],
  ['a YAML number equals 01', { path: 'OBX[2]-5', equals: 1 }, true],
  ['a YAML number in a list', { path: 'OBX[2]-5', in: ['x', 1] }, true],
  ['a YAML string compares as text', { path: 'OBX-5', equals: '1' }, false],
  ['a YAML number does not equal text', { path: 'OBX[3]-5', equals: 1 }, false],
  ['any occurrence holds (OBX[*])', { path: 'OBX[*]-8', equals: 'A' }, true],
  ['not: no occurrence holds', { not: { path: 'OBX[*]-8', equals: 'A' } }, false],
  ['any repetition holds (PID-3[*])', { path: 'PID-3[*].5', equals: 'SS' }, true],
  ['without *, the first repetition only', { path: 'PID-3.5', equals: 'SS' }, false],
  ['values compare without the blanks senders pad with', { path: 'OBX[3]-5', equals: 'F' }, true],
  ['a segment with no fields is present', { path: 'PV2', present: true }, true],
  ['an absent segment', { path: 'NK1', present: true }, false],
  [
    'all / any combine',
    {
      all: [
        { path: 'MSH-9.1', equals: 'ORU' },
        {
          any: [
            { path: 'OBX-2', in: ['ST', 'TX'] },
            { path: 'OBR-4', matches: '^GL' },
          ],
        },
      ],
    },
    true,
  ],
];

describe('one condition language: filters, validation and transformers agree', () => {
  it.each(cases)('%s', (_name, c, expected) => {
    expect({ filter: filter(c), validation: validation(c), transformer: transformer(c) }).toEqual({
      filter: expected,
      validation: expected,
      transformer: expected,
    });
  });
});
