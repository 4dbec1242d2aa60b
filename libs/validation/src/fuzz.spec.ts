import { readFileSync } from 'node:fs';
import { Hl7Message } from '@sinew/hl7v2';
import { corpusFiles } from '@sinew/test-support';
import fc from 'fast-check';
import { validateFhir } from './fhir';
import { ValidationCode, type ValidationIssue } from './issue';
import { compileRules, RulesCompileError } from './rules';
import { validateStructure } from './structure';

/**
 * Validators never throw on bad data: random messages, rule lists and JSON go through every
 * entry point. Runs are seeded (FUZZ_SEED to explore); a failure prints its counterexample.
 */
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 0x5eed;
const params = { seed, numRuns: 300 };

const KNOWN = new Set<string>(Object.values(ValidationCode));

function wellFormed(issues: ValidationIssue[], ruleCodes: ReadonlySet<string> = new Set()): void {
  for (const i of issues) {
    expect(i.code).not.toBe(ValidationCode.Internal);
    expect(KNOWN.has(i.code) || ruleCodes.has(i.code)).toBe(true);
    expect(['error', 'warning']).toContain(i.severity);
    expect(typeof i.location).toBe('string');
    expect(typeof i.message).toBe('string');
  }
}

const NAMES = [
  'PID',
  'PV1',
  'PV2',
  'OBR',
  'OBX',
  'ORC',
  'NTE',
  'EVN',
  'MRG',
  'MSA',
  'ERR',
  'SFT',
  'ZZ1',
  'QQQ',
  'RXA',
  'AIS',
];
const TYPES = [
  'ADT^A01',
  'ADT^A04^ADT_A01',
  'ADT^A40',
  'ORU^R01',
  'SIU^S12',
  'ACK',
  'VXU^V04',
  'ZZZ^Z99',
  '',
  '^^',
];
const VERSIONS = ['2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.8', '2.2', '9', 'x', ''];

const fieldText = fc.stringMatching(/^[A-Za-z0-9 ^~&\\.+\-"]{0,12}$/);
const segment = fc
  .tuple(fc.constantFrom(...NAMES), fc.array(fieldText, { maxLength: 16 }))
  .map(([name, fields]) => [name, ...fields].join('|'));
const message = fc
  .tuple(fc.constantFrom(...TYPES), fc.constantFrom(...VERSIONS), fc.array(segment, { maxLength: 14 }))
  .map(([type, version, segs]) =>
    Hl7Message.parse([`MSH|^~\\&|A|B|C|D|20240101||${type}|1|P|${version}`, ...segs].join('\r')),
  );

const rules = compileRules([
  { code: 'f.required', path: 'PID-3[*].1', required: true },
  { code: 'f.pattern', path: 'OBX[*]-5', pattern: '^[0-9.]+$', when: { path: 'OBX[*]-2', equals: 'NM' } },
  { code: 'f.allowed', path: 'PV1-2', allowed: ['I', 'O'] },
  { code: 'f.table', path: 'PID-8', table: '0001' },
  { code: 'f.datetime', path: 'OBX[*]-14', datetime: true },
  { code: 'f.range', path: 'OBX[*]-5', range: { min: 0, max: 100 } },
  { code: 'f.length', path: 'PID-5.1', length: { max: 5 } },
  { code: 'f.compare', path: 'OBX[*]-14', compare: { path: 'PV1-44', op: '<=', offset_days: 30 } },
  { code: 'f.compare_same', path: 'OBX[*]-5', compare: { path: 'OBX[*]-7', op: '>=', as: 'number' } },
  { code: 'f.segment', path: 'EVN', required: true, when: { not: { path: 'MSH-9.1', in: ['ACK', 'ORU'] } } },
]);
const ruleCodes = new Set(rules.rules.map((r) => r.code));

describe('fuzz: validators never throw', () => {
  it('rules and structure on random messages', () => {
    fc.assert(
      fc.property(message, (msg) => {
        wellFormed(rules.validate(msg), ruleCodes);
        wellFormed(validateStructure(msg));
        wellFormed(validateStructure(msg, { strictVersion: true }));
      }),
      params,
    );
  });

  it('structure on corpus messages with segments dropped, repeated and shuffled', () => {
    const corpus = corpusFiles('fhir-converter-01/hl7v2-samples', (n) => n.endsWith('.hl7')).map((f) =>
      Hl7Message.parse(readFileSync(f))
        .toString()
        .split(/\r\n?|\n/)
        .filter(Boolean),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('drop', 'repeat', 'swap')), { maxLength: 4 }),
        (lines, edits) => {
          const segs = lines.slice(1);
          for (const [a, b, op] of edits) {
            if (segs.length === 0) break;
            const i = a % segs.length;
            const j = b % segs.length;
            if (op === 'drop') segs.splice(i, 1);
            else if (op === 'repeat') segs.splice(i, 0, segs[i] as string);
            else [segs[i], segs[j]] = [segs[j] as string, segs[i] as string];
          }
          const msg = Hl7Message.parse([lines[0], ...segs].join('\r'));
          wellFormed(validateStructure(msg));
          wellFormed(rules.validate(msg), ruleCodes);
        },
      ),
      { ...params, numRuns: 200 },
    );
  });

  it('compileRules on random specs throws only RulesCompileError', () => {
    const ruleLike = fc.record(
      {
        code: fc.oneof(fc.constant('a.b'), fc.string()),
        path: fc.oneof(fc.constantFrom('PID-3', 'OBX[*]-5', 'PID-3[*].1', 'PID', 'X'), fc.string()),
        severity: fc.constantFrom('error', 'warning', 'fatal'),
        required: fc.oneof(fc.constant(true), fc.anything()),
        pattern: fc.string(),
        allowed: fc.array(fc.oneof(fc.string(), fc.integer())),
        table: fc.oneof(fc.constantFrom('0001', 1, '9999'), fc.string()),
        range: fc.record({ min: fc.double(), max: fc.double() }, { requiredKeys: [] }),
        compare: fc.record({ path: fc.string(), op: fc.constantFrom('<', '==', 'gt') }, { requiredKeys: [] }),
        when: fc.anything(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.array(ruleLike, { maxLength: 3 }), fc.anything()), (spec) => {
        try {
          const compiled = compileRules(spec);
          wellFormed(
            compiled.validate(Hl7Message.parse('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||1||X')),
            new Set(compiled.rules.map((r) => r.code)),
          );
        } catch (e) {
          expect(e).toBeInstanceOf(RulesCompileError);
        }
      }),
      params,
    );
  });

  it('validateFhir on random JSON and mutated resources', () => {
    const resource = fc.record(
      {
        resourceType: fc.constantFrom('Patient', 'Observation', 'Bundle', 'Encounter', 'Nope'),
        gender: fc.oneof(fc.constantFrom('male', 'dude'), fc.jsonValue()),
        name: fc.oneof(fc.array(fc.record({ family: fc.jsonValue(), use: fc.jsonValue() })), fc.jsonValue()),
        status: fc.jsonValue(),
        type: fc.constantFrom('transaction', 'batch', 'collection'),
        entry: fc.array(
          fc.record({
            fullUrl: fc.oneof(fc.constant('urn:uuid:1'), fc.jsonValue()),
            resource: fc.oneof(
              fc.record({ resourceType: fc.constantFrom('Patient', 'Observation'), subject: fc.jsonValue() }),
              fc.jsonValue(),
            ),
            request: fc.jsonValue(),
          }),
          { maxLength: 3 },
        ),
        subject: fc.oneof(
          fc.record({ reference: fc.constantFrom('urn:uuid:1', 'Patient/1') }),
          fc.jsonValue(),
        ),
        contained: fc.array(fc.jsonValue(), { maxLength: 2 }),
      },
      { requiredKeys: ['resourceType'] },
    );
    fc.assert(
      fc.property(fc.oneof(resource, fc.jsonValue()), (input) => {
        wellFormed(validateFhir(input));
      }),
      { ...params, numRuns: 200 },
    );
  });
});
