import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { compileRules, RulesCompileError } from './rules';
import { validationRulesSchema, type ValidationRuleInput } from './rules.schema';

/**
 * An ORU (parsed, so its segments have line numbers) with two identifiers, a leap-day birth date, a visit admitted 2024-01-01 and two
 * results: a number dated 10 days after admission and a text dated 60 days after.
 */
function oru(): Hl7Message {
  const msg = Hl7Message.create({
    type: 'ORU^R01^ORU_R01',
    version: '2.5.1',
    controlId: 'C1',
    dateTime: '20240101',
  });
  msg.setRaw('PID-3[1]', '123^^^HOSP^MR');
  msg.setRaw('PID-3[2]', '456^^^HOSP^SS');
  msg.setRaw('PID-5', 'DOE^JANE');
  msg.set('PID-7', '19800229');
  msg.set('PID-8', 'F');
  msg.set('PV1-2', 'I');
  msg.set('PV1-44', '20240101');
  msg.set('OBR-4', 'CBC');
  msg.set('OBX-2', 'NM');
  msg.set('OBX-5', '5.4');
  msg.set('OBX-11', 'F');
  msg.set('OBX-14', '20240111');
  msg.set('OBX[2]-2', 'ST');
  msg.set('OBX[2]-5', 'high');
  msg.set('OBX[2]-11', 'F');
  msg.set('OBX[2]-14', '20240301');
  return Hl7Message.parse(msg.toString());
}

function run(rules: ValidationRuleInput[], msg = oru()) {
  return compileRules(rules).validate(msg);
}

/** code, severity and location of each issue. */
function brief(rules: ValidationRuleInput[], msg = oru()) {
  return run(rules, msg).map((i) => ({ code: i.code, severity: i.severity, location: i.location }));
}

describe('compileRules: each check', () => {
  it('required: present passes; absent, null and a missing segment fail', () => {
    expect(
      run([{ code: 'pid.name', path: 'PID-5' }].map((r) => ({ ...r, required: true as const }))),
    ).toEqual([]);
    const msg = oru().setNull('PID-8');
    expect(
      run(
        [
          { code: 'pid.ssn', path: 'PID-19', required: true },
          { code: 'pid.sex', path: 'PID-8', required: true },
          { code: 'visit.extra', path: 'PV2', required: true },
          { code: 'visit.class', path: 'PV1-2', required: true },
        ],
        msg,
      ),
    ).toEqual([
      { severity: 'error', code: 'pid.ssn', location: 'PID-19', message: 'PID-19 is required', line: 2 },
      {
        severity: 'error',
        code: 'pid.sex',
        location: 'PID-8',
        message: 'PID-8 is required but holds the HL7 null ""',
        line: 2,
      },
      { severity: 'error', code: 'visit.extra', location: 'PV2', message: 'PV2 is required' },
    ]);
  });

  it('pattern: checks every repetition and names the failing one', () => {
    expect(run([{ code: 'pid.id', path: 'PID-3[*].1', pattern: '^[0-9]+$' }])).toEqual([]);
    const msg = oru();
    msg.set('PID-3[2].1', 'A-456');
    expect(run([{ code: 'pid.id', path: 'PID-3[*].1', pattern: '^[0-9]+$' }], msg)).toEqual([
      {
        severity: 'error',
        code: 'pid.id',
        location: 'PID-3[2].1',
        message: 'PID-3[2].1 does not match the pattern ^[0-9]+$',
        line: 2,
      },
    ]);
  });

  it('allowed: a value outside the list fails', () => {
    expect(run([{ code: 'pv1.class', path: 'PV1-2', allowed: ['I', 'O'] }])).toEqual([]);
    expect(run([{ code: 'pv1.class', path: 'PV1-2', allowed: ['E', 'O'] }])).toEqual([
      {
        severity: 'error',
        code: 'pv1.class',
        location: 'PV1-2',
        message: 'PV1-2 is not one of the allowed values (E, O)',
        line: 3,
      },
    ]);
  });

  it('table: codes of real HL7 tables (0001 sex, 0004 patient class, 0085 result status)', () => {
    expect(
      brief([
        { code: 'pid.sex', path: 'PID-8', table: '0001' },
        { code: 'pv1.class', path: 'PV1-2', table: 'HL70004' },
        { code: 'obx.status', path: 'OBX[*]-11', table: 85 },
      ]),
    ).toEqual([]);
    const msg = oru();
    msg.set('PID-8', 'X');
    msg.set('OBX[2]-11', 'Q');
    expect(
      run(
        [
          { code: 'pid.sex', path: 'PID-8', table: '0001' },
          { code: 'obx.status', path: 'OBX[*]-11', table: '0085' },
        ],
        msg,
      ),
    ).toEqual([
      {
        severity: 'error',
        code: 'pid.sex',
        location: 'PID-8',
        message: 'PID-8 is not a code of HL7 table 0001 (v2 SEX)',
        line: 2,
      },
      {
        severity: 'error',
        code: 'obx.status',
        location: 'OBX[2]-11',
        message: 'OBX[2]-11 is not a code of HL7 table 0085 (v2 OBSERVATION RESULT STATUS)',
        line: 6,
      },
    ]);
  });

  it('table: every code of table 0001 passes', () => {
    for (const sex of ['A', 'F', 'M', 'N', 'O', 'U']) {
      const msg = oru();
      msg.set('PID-8', sex);
      expect(run([{ code: 'pid.sex', path: 'PID-8', table: '0001' }], msg)).toEqual([]);
    }
  });

  it('datetime: calendar checks per occurrence; a TS degree of precision is ignored', () => {
    expect(run([{ code: 'pid.dob', path: 'PID-7', datetime: true }])).toEqual([]);
    const msg = oru();
    msg.set('PID-7', '19810229');
    msg.set('OBX[2]-14', '20240230');
    msg.setRaw('OBX-14', '202401111230+0100^M');
    expect(
      brief(
        [
          { code: 'pid.dob', path: 'PID-7', datetime: true },
          { code: 'obx.date', path: 'OBX[*]-14', datetime: true },
        ],
        msg,
      ),
    ).toEqual([
      { code: 'pid.dob', severity: 'error', location: 'PID-7' },
      { code: 'obx.date', severity: 'error', location: 'OBX[2]-14' },
    ]);
    expect(run([{ code: 'pid.dob', path: 'PID-7', datetime: true }], msg)[0]?.message).toBe(
      'PID-7 is not a valid HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])',
    );
  });

  it('range: numeric bounds, and text that is no number', () => {
    const numeric: ValidationRuleInput = {
      code: 'obx.value',
      path: 'OBX[*]-5',
      when: { path: 'OBX[*]-2', equals: 'NM' },
      range: { min: 0, max: 10 },
    };
    expect(run([numeric])).toEqual([]);
    const msg = oru();
    msg.set('OBX-5', '12');
    expect(run([numeric], msg)).toEqual([
      {
        severity: 'error',
        code: 'obx.value',
        location: 'OBX[1]-5',
        message: 'OBX[1]-5 is above the maximum 10',
        line: 5,
      },
    ]);
    msg.set('OBX-5', '-0.5');
    expect(run([numeric], msg)[0]?.message).toBe('OBX[1]-5 is below the minimum 0');
    expect(brief([{ code: 'obx.value', path: 'OBX[*]-5', range: { min: 0 } }])).toEqual([
      { code: 'obx.value', severity: 'error', location: 'OBX[2]-5' },
    ]);
    expect(run([{ code: 'obx.value', path: 'OBX[*]-5', range: { min: 0 } }])[0]?.message).toBe(
      'OBX[2]-5 is not a number',
    );
  });

  it('length: counts characters of the decoded value', () => {
    expect(run([{ code: 'pid.family', path: 'PID-5.1', length: { min: 2, max: 3 } }])).toEqual([]);
    expect(brief([{ code: 'pid.family', path: 'PID-5.1', length: { max: 2 } }])).toEqual([
      { code: 'pid.family', severity: 'error', location: 'PID-5.1' },
    ]);
    expect(run([{ code: 'pid.given', path: 'PID-5.2', length: { min: 5 } }])[0]?.message).toBe(
      'PID-5.2 is shorter than 5 characters',
    );
    const msg = oru();
    msg.set('PID-5.1', 'Ünø');
    expect(run([{ code: 'pid.family', path: 'PID-5.1', length: { max: 3 } }], msg)).toEqual([]);
  });

  it('compare: a lab result dated more than 30 days after the visit is flagged', () => {
    expect(
      run([
        {
          code: 'lab.result_late',
          severity: 'warning',
          path: 'OBX[*]-14',
          compare: { path: 'PV1-44', op: '<=', offset_days: 30 },
        },
      ]),
    ).toEqual([
      {
        severity: 'warning',
        code: 'lab.result_late',
        location: 'OBX[2]-14',
        message: 'OBX[2]-14 is not on or before PV1-44 + 30 days',
        line: 6,
      },
    ]);
  });

  it('compare: before the visit, numbers, text, and the same occurrence', () => {
    const msg = oru();
    msg.set('OBX-14', '20231231');
    expect(
      brief([{ code: 'lab.before_visit', path: 'OBX[*]-14', compare: { path: 'PV1-44', op: '>=' } }], msg),
    ).toEqual([{ code: 'lab.before_visit', severity: 'error', location: 'OBX[1]-14' }]);
    // The other value's `*` binds to the occurrence being checked.
    msg.set('OBX-7', '4');
    msg.set('OBX[2]-7', '1');
    expect(
      run(
        [{ code: 'obx.low', path: 'OBX[*]-5', compare: { path: 'OBX[*]-7', op: '>=', as: 'number' } }],
        msg,
      ),
    ).toEqual([]);
    msg.set('OBX-7', '6');
    expect(
      run(
        [{ code: 'obx.low', path: 'OBX[*]-5', compare: { path: 'OBX[*]-7', op: '>=', as: 'number' } }],
        msg,
      ),
    ).toEqual([
      {
        severity: 'error',
        code: 'obx.low',
        location: 'OBX[1]-5',
        message: 'OBX[1]-5 is not at least OBX[1]-7',
        line: 5,
      },
    ]);
    expect(
      brief([
        { code: 'pid.distinct', path: 'PID-3[1].1', compare: { path: 'PID-3[2].1', op: '!=', as: 'text' } },
      ]),
    ).toEqual([]);
    expect(
      brief([
        { code: 'pid.same', path: 'PID-3[1].1', compare: { path: 'PID-3[2].1', op: '==', as: 'text' } },
      ]),
    ).toEqual([{ code: 'pid.same', severity: 'error', location: 'PID-3[1].1' }]);
  });

  it('compare: skips when either value is missing or unreadable', () => {
    const msg = oru();
    msg.set('PV1-44', '');
    msg.set('OBX-14', 'soon');
    expect(
      run([{ code: 'lab.late', path: 'OBX[*]-14', compare: { path: 'PV1-44', op: '<=' } }], msg),
    ).toEqual([]);
  });
});

describe('compileRules: conditions, locations, messages', () => {
  it('when: present, equals, in, matches, all, any, not', () => {
    const rule = (when: ValidationRuleInput['when']): ValidationRuleInput => ({
      code: 'pid.ssn',
      path: 'PID-19',
      required: true,
      when,
    });
    const fires = (when: ValidationRuleInput['when']) => run([rule(when)]).length === 1;
    expect(fires({ path: 'PID-8', present: true })).toBe(true);
    expect(fires({ path: 'PID-9', present: true })).toBe(false);
    expect(fires({ path: 'PID-9', present: false })).toBe(true);
    expect(fires({ path: 'PID-8', equals: 'F' })).toBe(true);
    expect(fires({ path: 'PID-8', equals: 'M' })).toBe(false);
    expect(fires({ path: 'PV1-2', in: ['I', 'E'] })).toBe(true);
    expect(fires({ path: 'PV1-2', in: ['O'] })).toBe(false);
    expect(fires({ path: 'PID-7', matches: '^1980' })).toBe(true);
    expect(
      fires({
        all: [
          { path: 'PID-8', equals: 'F' },
          { path: 'PV1-2', equals: 'O' },
        ],
      }),
    ).toBe(false);
    expect(
      fires({
        any: [
          { path: 'PID-8', equals: 'M' },
          { path: 'PV1-2', equals: 'I' },
        ],
      }),
    ).toBe(true);
    expect(fires({ not: { path: 'PID-8', equals: 'F' } })).toBe(false);
    // A `*` on another segment means "any occurrence".
    expect(fires({ path: 'OBX[*]-2', equals: 'ST' })).toBe(true);
    expect(fires({ path: 'OBX[*]-2', equals: 'CE' })).toBe(false);
  });

  it('when binds * to the occurrence and repetition being checked', () => {
    const rules: ValidationRuleInput[] = [
      { code: 'pid.mrn', path: 'PID-3[*].1', when: { path: 'PID-3[*].5', equals: 'MR' }, pattern: '^9' },
    ];
    expect(brief(rules)).toEqual([{ code: 'pid.mrn', severity: 'error', location: 'PID-3[1].1' }]);
  });

  it('one issue per failing occurrence, with its concrete location', () => {
    const msg = oru();
    msg.set('OBX[3]-2', 'NM');
    msg.set('OBX[3]-11', 'X');
    msg.set('OBX-11', '');
    expect(brief([{ code: 'obx.status', path: 'OBX[*]-11', required: true }], msg)).toEqual([
      { code: 'obx.status', severity: 'error', location: 'OBX[1]-11' },
    ]);
    expect(brief([{ code: 'obx.status', path: 'OBX[*]-11', allowed: ['F'] }], msg)).toEqual([
      { code: 'obx.status', severity: 'error', location: 'OBX[3]-11' },
    ]);
    expect(brief([{ code: 'obx.value', path: 'OBX[*]-5', required: true }], msg)).toEqual([
      { code: 'obx.value', severity: 'error', location: 'OBX[3]-5' },
    ]);
    // Absent segments give nothing to check; an absent field's first repetition is checked.
    expect(run([{ code: 'nte.text', path: 'NTE[*]-3', required: true }], msg)).toEqual([]);
    expect(brief([{ code: 'pid.alias', path: 'PID-9[*].1', required: true }], msg)).toEqual([
      { code: 'pid.alias', severity: 'error', location: 'PID-9[1].1' },
    ]);
  });

  it('a rule message replaces the default one; severity defaults to error', () => {
    const [issue] = run([
      { code: 'pid.sex', path: 'PID-8', allowed: ['M'], message: 'Only male patients here' },
    ]);
    expect(issue).toMatchObject({ severity: 'error', message: 'Only male patients here' });
  });

  it('messages name locations, never the values found', () => {
    const msg = oru();
    msg.set('PID-3[2].1', 'SECRET-ID');
    msg.set('PID-7', 'SECRET-DOB');
    const issues = run(
      [
        { code: 'a', path: 'PID-3[*].1', pattern: '^[0-9]+$' },
        { code: 'b', path: 'PID-3[*].1', allowed: ['1'] },
        { code: 'c', path: 'PID-7', datetime: true },
        { code: 'd', path: 'PID-3[*].1', length: { max: 3 } },
        { code: 'e', path: 'PID-7', range: { max: 3 } },
      ],
      msg,
    );
    expect(issues.length).toBeGreaterThan(4);
    for (const i of issues) expect(i.message).not.toMatch(/SECRET/);
  });

  it('rules read from YAML', () => {
    const rules = compileRules(
      parseYaml(`
- code: pid.sex
  path: PID-8
  table: 0001
- code: visit.class
  path: PV1-2
  allowed: [I, O]
- code: lab.result_late
  severity: warning
  path: OBX[*]-14
  when:
    path: OBX[*]-11
    in: [F, C]
  compare: { path: PV1-44, op: '<=', offset_days: 30 }
`),
    );
    expect(rules.rules.map((r) => r.severity)).toEqual(['error', 'error', 'warning']);
    expect(rules.validate(oru()).map((i) => i.location)).toEqual(['OBX[2]-14']);
    expect(validationRulesSchema.safeParse(rules.rules).success).toBe(true);
  });
});

describe('validationRulesSchema', () => {
  it('gives a JSON Schema for editors, with descriptions', () => {
    const schema = z.toJSONSchema(validationRulesSchema, { io: 'input' }) as {
      items: { properties: Record<string, { description?: string }>; required: string[] };
    };
    expect(schema.items.required).toEqual(['code', 'path']);
    expect(Object.keys(schema.items.properties)).toEqual(
      expect.arrayContaining([
        'required',
        'pattern',
        'allowed',
        'table',
        'datetime',
        'range',
        'length',
        'compare',
        'when',
      ]),
    );
    expect(schema.items.properties.path?.description).toMatch(/HL7 path/);
  });
});

describe('docs/validation.md', () => {
  it('every YAML rule example compiles', () => {
    const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'validation.md'), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map(
      (m) => parseYaml(m[1] as string) as unknown,
    );
    expect(blocks.length).toBeGreaterThan(8);
    for (const block of blocks) {
      const list = Array.isArray(block)
        ? block
        : (block as { validation: { rules: unknown[] } }).validation.rules;
      expect(compileRules(list).rules.length).toBe(list.length);
    }
  });
});

describe('compileRules: errors', () => {
  function problems(spec: unknown): string[] {
    try {
      compileRules(spec);
    } catch (e) {
      expect(e).toBeInstanceOf(RulesCompileError);
      return (e as RulesCompileError).problems.map((p) => `${p.where}: ${p.message}`);
    }
    throw new Error('compiled');
  }

  it('lists every problem with where it is', () => {
    expect(
      problems([
        { code: 'a.b', path: 'PID 7', required: true },
        { code: 'a.b', path: 'PID-7', pattern: '([' },
        { code: 'a.b', path: 'PID-8', table: 'nope' },
        { code: 'a.b', path: 'OBX[*]-14', compare: { path: 'OBR[*]-7', op: '<' } },
        { code: 'a.b', path: 'PID', pattern: 'x' },
        { code: 'a.b', path: 'PID-19', required: true, when: { path: 'PID-8', matches: '(' } },
      ]),
    ).toEqual([
      'rules[0].path: "PID 7" is not an HL7 path (expected e.g. PID-3, PID-3[2].1, OBX[3]-5, MSH-9.2)',
      'rules[1].pattern: is not a valid regular expression',
      'rules[2].table: no HL7 table "nope" in the v2 tables',
      "rules[3].compare.path: may use * only for the rule path's own segment (and its own field's repetitions)",
      'rules[4].path: must name a field (a bare segment takes only required)',
      'rules[5].when.matches: "(" is not a valid regular expression: Unterminated group',
    ]);
  });

  it('schema errors: one check per rule, known keys, dotted codes', () => {
    expect(problems([{ code: 'a', path: 'PID-7', pattern: 'x', datetime: true }])).toEqual([
      'rules[0]: a rule holds exactly one check: required, pattern, allowed, table, datetime, range, length, compare',
    ]);
    expect(problems([{ code: 'a', path: 'PID-7' }])[0]).toMatch(/exactly one check/);
    expect(problems([{ code: 'a', path: 'PID-7', required: true, regex: 'x' }])[0]).toMatch(
      /^rules\[0\]: .*regex/,
    );
    expect(problems([{ code: 'Not A Code', path: 'PID-7', required: true }])[0]).toMatch(
      /^rules\[0\]\.code: /,
    );
    expect(problems([{ code: 'a', path: 'PID-7', range: {} }])[0]).toMatch(
      /^rules\[0\]\.range: range needs min/,
    );
    expect(
      problems([{ code: 'a', path: 'PID-7', compare: { path: 'PV1-44', op: '<', as: 'text' } }])[0],
    ).toMatch(/text comparisons take == or != only/);
    expect(problems({ rules: [] })[0]).toMatch(/^rules: /);
  });
});
