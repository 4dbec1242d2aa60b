import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { builtInRegistries } from '@sinew/channels';
import { jsonSubsetDiff, runChannelTestFile, runTests } from '@sinew/channels/testing';

/** A lab channel that answers after the pipeline, so the ACK tells what the pipeline decided. */
const CHANNEL = `
id: lab
source: { type: mllp, listen: '127.0.0.1:0' }
ack: { when: processed }
pipeline:
  - filter: { path: MSH-9.1, equals: ORU }
  - validate:
      policy: reject
      rules:
        - { code: lab.mrn, path: PID-3.1, required: true, message: The patient has no identifier }
  - map: { transformer: oru-to-fhir }
destinations:
  - name: ehr
    type: fhir
    base_url: \${EHR_URL}
    mode: transaction
    ordering: PID-3.1
  - name: notice
    type: http
    url: http://127.0.0.1:9/notices
    transformer: oru-to-pms-results-ready
  - name: copy
    type: mllp
    url: mllp://127.0.0.1:9
    payload: raw
`;

const message = (indent: number) =>
  `
MSH|^~\\&|LAB|LAB|EHR|CLINIC|20260316101500||ORU^R01^ORU_R01|C1|P|2.5.1
PID|1||MRN-1^^^LAB^MR||DOE^JANE||19800214|F
OBR|1|ORD-1^EHR|FIL-1^LAB|2345-7^Glucose^LN|||20260316070000||||||||||||||||||F
OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|70-99|N|||F`.replace(/\n/g, `\n${' '.repeat(indent)}`);
const MESSAGE = message(6);

describe('channel tests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sinew-chtest-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'lab.yaml'), CHANNEL);
  const registries = builtInRegistries();

  const run = (cases: string, name = 'lab.test.yaml') => {
    const file = join(dir, name);
    writeFileSync(file, `env: { EHR_URL: 'http://127.0.0.1:9/fhir' }\ntests:\n${cases}`);
    return runChannelTestFile(file, registries);
  };

  it('passes a case whose expectations hold: ACK, status, issues and every destination', () => {
    const [r] = run(`
  - name: a good result
    input: |${MESSAGE}
    status: processed
    ack: AA
    issues: []
    deliveries:
      ehr:
        type: fhir
        order_key: MRN-1
        fhirpath:
          Bundle.entry.resource.ofType(Observation).valueQuantity.value: 95
          Bundle.entry.resource.ofType(Patient).name.family: DOE
      notice:
        json: { placerOrderNumber: ORD-1, patient: { mrn: MRN-1 } }
      copy:
        type: hl7v2
        hl7: { PID-5.1: DOE, PID-7: 19800214, OBX-5: '95' }
`);
    expect(r).toMatchObject({ kind: 'channel', line: 4, name: 'a good result', failures: [] });
    expect(r?.passed).toBe(true);
  });

  it('fails a case with one line per mismatch, located by HL7 path, FHIRPath or JSON pointer', () => {
    const [r] = run(`
  - name: wrong expectations
    input: |${MESSAGE}
    status: processed
    ack: AE
    deliveries:
      ehr:
        order_key: MRN-2
        fhirpath: { Bundle.entry.resource.ofType(Observation).valueQuantity.value: 96 }
      notice:
        json: { patient: { mrn: MRN-2, dob: '1980' }, test: [1] }
      copy:
        hl7: { PID-5.1: SMITH }
        bytes: |
          MSH|^~\\&|LAB|LAB|EHR|CLINIC|20260316101500||ORU^R01^ORU_R01|C1|P|2.5.1
          PID|1||MRN-1
`);
    expect(r?.file).toBe(relative(process.cwd(), join(dir, 'lab.test.yaml')));
    expect(r?.line).toBe(4);
    expect(r?.passed).toBe(false);
    expect(r?.failures).toEqual([
      'ack MSA-1: expected "AE", got "AA"',
      'deliveries.ehr order_key: expected "MRN-2", got "MRN-1"',
      'deliveries.ehr fhirpath Bundle.entry.resource.ofType(Observation).valueQuantity.value: expected 96, got 95',
      'deliveries.notice json /patient/mrn: expected "MRN-2", got "MRN-1"',
      'deliveries.notice json /patient/dob: expected "1980", got (nothing)',
      'deliveries.notice json /test: expected [1], got {"code":"2345-7","display":"Glucose","system":"LN"}',
      'deliveries.copy bytes line 2: expected "PID|1||MRN-1", got "PID|1||MRN-1^^^LAB^MR||DOE^JANE||19800214|F"',
      'deliveries.copy hl7 PID-5.1: expected "SMITH", got "DOE"',
    ]);
  });

  it('checks a rejection: status, issue codes, the negative ACK with its ERR-3, and nothing sent', () => {
    const cases = `
  - name: no MRN
    input: |
      MSH|^~\\&|LAB|LAB|EHR|CLINIC|20260316101500||ORU^R01^ORU_R01|C2|P|2.5.1
      PID|1||
    status: rejected
    issues: [lab.mrn]
    ack: { code: AE, err: no identifier, condition: 101, hl7: { MSA-2: C2, ERR-2.1: PID } }
    deliveries: none
  - name: no MRN, expected to pass
    input: |
      MSH|^~\\&|LAB|LAB|EHR|CLINIC|20260316101500||ORU^R01^ORU_R01|C3|P|2.5.1
      PID|1||
    status: processed
    issues: []
    deliveries: { ehr: { type: fhir }, copy: { none: true } }
`;
    const [good, bad] = run(cases);
    expect(good?.failures).toEqual([]);
    expect(bad?.line).toBe(12);
    expect(bad?.failures).toEqual([
      'status: expected "processed", got "rejected" (lab.mrn at PID-3.1: The patient has no identifier)',
      'issues: expected [], got ["lab.mrn"]; not expected: lab.mrn (The patient has no identifier)',
      'deliveries.ehr: expected a delivery, but nothing is sent (status rejected)',
    ]);
  });

  it('applies each message of a case and names the one that failed', () => {
    const [r] = run(`
  - name: two messages
    input:
      - |${message(8)}
      - text: |
          MSH|^~\\&|LAB|LAB|EHR|CLINIC|20260316101500||ADT^A01|C4|P|2.5.1
          PID|1||MRN-1
    status: processed
`);
    expect(r?.failures).toEqual(['[2: input] status: expected "processed", got "filtered"']);
  });

  it("compiles the channel with the case's env only, strictly: an unset variable fails the case", () => {
    const file = join(dir, 'lab.env.test.yaml');
    writeFileSync(file, `tests:\n  - name: no EHR_URL\n    input: |${MESSAGE}\n    status: processed\n`);
    const [r] = runChannelTestFile(file, registries);
    expect(r?.passed).toBe(false);
    expect(r?.failures[0]).toBe('the channel does not compile:');
    expect(r?.failures[1]).toBe(
      `${relative(process.cwd(), join(dir, 'lab.yaml'))}:15:15 error env.unset destinations.0.base_url: ` +
        'environment variable EHR_URL has no value (write ${EHR_URL:-default} for a default)',
    );
  });

  it('reports a malformed test file at its line, and an unknown destination by name', () => {
    expect(run(`  - name: x\n    input: y\n    stauts: processed\n`)[0]).toMatchObject({
      line: 5,
      name: '(test file)',
      passed: false,
    });
    expect(
      run(`  - name: x\n    input: |${MESSAGE}\n    deliveries: { fhir: { none: true } }\n`)[0]?.failures,
    ).toEqual(['deliveries.fhir: the channel has no destination fhir (it has ehr, notice, copy)']);
  });

  it('runs channel and transformer tests found under folders (runTests)', () => {
    run(`  - name: ok\n    input: |${MESSAGE}\n    status: processed\n`);
    const out = runTests([dir]);
    expect(out.files.channel).toBeGreaterThan(0);
    expect(out.results.find((x) => x.name === 'ok')?.passed).toBe(true);
  });
});

describe('jsonSubsetDiff', () => {
  it('names each difference by JSON pointer; arrays compare item by item', () => {
    expect(
      jsonSubsetDiff({ a: { 'b/c': 1 }, d: [1, { e: 2 }] }, { a: { 'b/c': 1 }, d: [1, { e: 3, f: 0 }] }),
    ).toEqual(['/d/1/e: expected 2, got 3']);
    expect(jsonSubsetDiff({ a: [1, 2] }, { a: [1] })).toEqual(['/a: expected 2 items, got 1: [1]']);
    expect(jsonSubsetDiff({ 'x/y': 1 }, {})).toEqual(['/x~1y: expected 1, got (nothing)']);
  });
});
