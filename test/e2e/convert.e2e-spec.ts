import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { corpusPath } from '@sinew/test-support';

const ROOT = resolve(__dirname, '..', '..');

function sinew(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/sinew.js', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sinew convert (built command)', () => {
  it('converts an ADT^A01 to a FHIR transaction Bundle chosen by MSH-9', () => {
    const r = sinew(['convert', corpusPath('fhir-converter-01', 'hl7v2-samples', 'ADT-A01-01.hl7')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const bundle = JSON.parse(r.stdout) as {
      type: string;
      entry: Array<{ resource: { resourceType: string; birthDate?: string } }>;
    };
    expect(bundle.type).toBe('transaction');
    const patient = bundle.entry.find((e) => e.resource.resourceType === 'Patient');
    expect(patient?.resource.birthDate).toBe('1988-08-18');
  });

  it('gives the same Bundle for the same message', () => {
    const file = corpusPath('fhir-converter-01', 'hl7v2-samples', 'ADT-A01-01.hl7');
    expect(sinew(['convert', file]).stdout).toBe(sinew(['convert', file]).stdout);
  });

  it('prints a warning for an optional element it leaves out, converts the rest, exit 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-convert-'));
    const file = join(dir, 'odd-sex.hl7');
    writeFileSync(
      file,
      'MSH|^~\\&|PMS|C|EHR|C|20260101||ADT^A04|1|P|2.5.1\rPID|1||M1^^^C^MR||DOE^J||19800101|X\r',
    );
    const r = sinew(['convert', file]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      `${file}: warning map.unmapped PID-8.1 → Patient.gender: code is not in vocabulary AdministrativeSex (policy: error)\n`,
    );
    const bundle = JSON.parse(r.stdout) as { entry: Array<{ resource: Record<string, unknown> }> };
    const patient = bundle.entry.find((e) => e.resource.resourceType === 'Patient')?.resource;
    expect(patient?.birthDate).toBe('1980-01-01');
    expect(patient?.gender).toBeUndefined();
  });

  it('reports a mapping error in a required element with its code and locations, exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-convert-'));
    const file = join(dir, 'bad-class.hl7');
    writeFileSync(
      file,
      'MSH|^~\\&|PMS|C|EHR|C|20260101||ADT^A01|1|P|2.5.1\rPID|1||M1^^^C^MR||DOE^J||19800101|F\rPV1|1|Z\r',
    );
    const r = sinew(['convert', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `sinew: ${file}: PV1-2.1 → $this: map.unmapped: code is not in vocabulary PatientClass[EncounterClass] (policy: error)\n`,
    );
  });

  it('gives an empty OBX-11 the default unknown with a warning; --strict refuses it, exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-convert-'));
    const file = join(dir, 'no-status.hl7');
    writeFileSync(
      file,
      [
        'MSH|^~\\&|LIS|LAB|EHR|C|20260101||ORU^R01^ORU_R01|1|P|2.5.1',
        'PID|1||M1^^^C^MR||DOE^J||19800101|F',
        'OBR|1||L1^LIS|2345-7^Glucose^LN|||20260101||||||||||||||||||F',
        'OBX|1|NM|2345-7^Glucose^LN||105|mg/dL',
      ].join('\r'),
    );
    const lenient = sinew(['convert', file]);
    expect(lenient.status).toBe(0);
    expect(lenient.stderr).toBe(
      `${file}: warning map.defaulted OBX-11 → Observation.status: a required value is empty; the default was written\n`,
    );
    expect(lenient.stdout).toContain('"status": "unknown"');
    const strict = sinew(['convert', '--strict', file]);
    expect(strict.status).toBe(1);
    expect(strict.stderr).toBe(`sinew: ${file}: OBX OBX-11 → status: map.required: a value is required\n`);
  });

  it('--validate prints structure issues of the input and exits 1 on errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-convert-'));
    const file = join(dir, 'no-pv1.hl7');
    writeFileSync(
      file,
      'MSH|^~\\&|A|B|C|D|20260101||ADT^A04|1|P|2.5.1\rEVN|A04|20260101\rPID|1||M1^^^C^MR||DOE^J||19800101|F\r',
    );
    const r = sinew(['convert', '--validate', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file}: error hl7.structure.missing_segment input PV1: `);
    expect(JSON.parse(r.stdout)).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
  });

  it('--validate passes a valid conversion with exit 0', () => {
    const r = sinew(['convert', '--validate', join(ROOT, 'channels', 'samples', 'adt-a01.hl7')]);
    expect(r.stderr).not.toMatch(/ error /);
    expect(r.status).toBe(0);
  });

  it('--to with --map checks what the map produces: a mismatch is a usage error naming it', () => {
    const adt = join(ROOT, 'channels', 'samples', 'adt-a01.hl7');
    const wrong = sinew(['convert', '--map', 'adt-to-fhir', '--to', 'hl7v2', adt]);
    expect(wrong).toEqual({
      status: 2,
      stdout: '',
      stderr:
        'sinew: --to hl7v2: transformer adt-to-fhir produces fhir, not hl7v2 (give --to fhir or leave --to out)\n',
    });
    const right = sinew(['convert', '--map', 'adt-to-fhir', '--to', 'fhir', adt]);
    expect(right.stderr).toBe('');
    expect(right.status).toBe(0);
    expect(JSON.parse(right.stdout)).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
    expect(sinew(['convert', '--map', 'adt-to-fhir', adt]).stdout).toBe(right.stdout);
  });

  it('refuses a message type without a built-in transformer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-convert-'));
    const file = join(dir, 'q.hl7');
    writeFileSync(file, 'MSH|^~\\&|A|B|C|D|20260101||QBP^Q11|1|P|2.5.1\r');
    const r = sinew(['convert', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('map.no_transformer');
  });
});

describe('sinew test (built command)', () => {
  it('runs the built-in transformer tests', () => {
    const r = sinew(['test', 'transformers']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
  });

  it('fails and names file:line of a failing test', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-test-'));
    writeFileSync(
      join(dir, 'm.yaml'),
      'transformer: t\ninput: json\noutput: json\nresources:\n  - name: out\n    rules:\n      - { from: a, to: b }\n',
    );
    writeFileSync(
      join(dir, 'm.test.yaml'),
      'transformer: t\ntests:\n  - name: copies a\n    input: { a: 1 }\n    expect: { b: 2 }\n',
    );
    const r = sinew(['test', dir]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('m.test.yaml:3 copies a');
    expect(r.stdout).toContain('b: got [1], expected [2]');
    expect(r.stdout).toMatch(/^0 passed, 1 failed$/m);
  });

  it('runs the shipped channel and transformer tests by default', () => {
    const r = sinew(['test']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const channelTests = readdirSync(join(ROOT, 'channels'), { recursive: true }).filter((f) =>
      String(f).endsWith('.test.yaml'),
    ).length;
    expect(channelTests).toBeGreaterThanOrEqual(4);
    expect(r.stdout).toMatch(
      new RegExp(`^ran ${channelTests} channel and \\d+ transformer test files in \\d+ ms$`, 'm'),
    );
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
  });

  it('writes JUnit XML with the failing channel case, its file:line and the difference; exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-test-'));
    writeFileSync(
      join(dir, 'lab.yaml'),
      [
        'id: lab',
        'source: { type: mllp, listen: "127.0.0.1:0" }',
        'pipeline:',
        '  - map: { transformer: oru-to-pms-results-ready }',
        'destinations:',
        '  - { name: pms, type: http, url: "http://127.0.0.1:9/notices" }',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'lab.test.yaml'),
      [
        'tests:',
        '  - name: the sample becomes a notice',
        '    input: { file: ' + JSON.stringify(join(ROOT, 'channels', 'samples', 'oru-r01.hl7')) + ' }',
        '    ack: AA',
        '    deliveries: { pms: { json: { patient: { mrn: MRN-000123 } } } }',
        '  - name: a wrong MRN',
        '    input: { file: ' + JSON.stringify(join(ROOT, 'channels', 'samples', 'oru-r01.hl7')) + ' }',
        '    deliveries: { pms: { json: { patient: { mrn: MRN-9 } } } }',
      ].join('\n'),
    );
    const out = join(dir, 'report.xml');
    const r = sinew(['test', dir, '--reporter', 'junit', '--output', out]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const xml = readFileSync(out, 'utf8');
    expect(xml).toMatch(/<testsuites name="sinew test" tests="2" failures="1"/);
    expect(xml).toContain('name="the sample becomes a notice"');
    expect(xml).toContain('lab.test.yaml:6 a wrong MRN');
    expect(xml).toContain(
      'deliveries.pms json /patient/mrn: expected &quot;MRN-9&quot;, got &quot;MRN-000123&quot;',
    );

    const text = sinew(['test', join(dir, 'lab.test.yaml')]);
    expect(text.status).toBe(1);
    expect(text.stdout).toContain('FAIL');
    expect(text.stdout).toMatch(/^1 passed, 1 failed$/m);
  });
});

describe('sinew convert --param (built command)', () => {
  const patient = () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-param-'));
    const file = join(dir, 'patient.json');
    writeFileSync(file, JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Test' }] }));
    return file;
  };
  const header = (hl7: string) => {
    const segs = hl7.split(/\r\n|\r|\n/);
    return [segs[0]?.split('|')[8], segs[1]];
  };

  it('gives the --map transformer its parameters: patient-to-adt builds A31, or A28 with event=A28', () => {
    const file = patient();
    const a31 = sinew(['convert', '--map', 'patient-to-adt', file]);
    expect(a31.status).toBe(0);
    expect(header(a31.stdout)).toEqual(['ADT^A31^ADT_A05', 'EVN|A31']);
    const a28 = sinew(['convert', '--map', 'patient-to-adt', '--param', 'event=A28', file]);
    expect(a28.stderr).toBe('');
    expect(a28.status).toBe(0);
    expect(header(a28.stdout)).toEqual(['ADT^A28^ADT_A05', 'EVN|A28']);
  });

  it('an unknown parameter, a refused value or --param without --map is a usage error', () => {
    const file = patient();
    const unknown = sinew(['convert', '--map', 'patient-to-adt', '--param', 'evnt=A28', file]);
    expect([unknown.status, unknown.stdout]).toEqual([2, '']);
    expect(unknown.stderr).toBe(
      'sinew: --param: patient-to-adt: no parameter named evnt (the map takes event)\n',
    );
    const refused = sinew(['convert', '--map', 'patient-to-adt', '--param', 'event=A01', file]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('parameter event is one of A31, A28, not "A01"');
    const noMap = sinew(['convert', '--param', 'event=A28', file]);
    expect(noMap.status).toBe(2);
    expect(noMap.stderr).toBe('sinew: --param sets a parameter of the --map transformer: give --map\n');
  });
});
