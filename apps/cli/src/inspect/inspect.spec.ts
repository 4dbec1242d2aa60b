import { Hl7Message } from '@sinew/hl7v2';
import { runInspect, valuesAt, type InspectOptions } from './inspect';

const ADT = 'MSH|^~\\&|APP||||||ADT^A01|C1|P|2.5.1\rPID|1||||DOE^JOHN\rOBX|1|NM|A||1\rOBX|2|NM|B||2\r';
const ORU = 'MSH|^~\\&|LAB||||||ORU^R01|C2|P|2.5.1\rPID|1||||ROE^JANE\r';
const BATCH = `FHS|^~\\&\rBHS|^~\\&\r${ADT}${ORU}BTS|2\rFTS|1\r`;

function run(files: string[], options: InspectOptions, contents: Record<string, string>) {
  let stdout = '';
  let stderr = '';
  const code = runInspect(files, options, {
    readFile: (file) => {
      const text = contents[file];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
      return Buffer.from(text);
    },
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr };
}

describe('valuesAt', () => {
  it('gives one line per path, and one per match for a path with *', () => {
    const msg = Hl7Message.parse(ADT);
    expect(valuesAt(msg, ['PID-5.1', 'OBX[2]-5', 'PID-99', 'OBX[*]-5'])).toEqual(['DOE', '2', '', '1', '2']);
  });
});

describe('runInspect', () => {
  it('prints the values at the paths, in the order given, for one message', () => {
    const r = run(['a.hl7'], { get: ['PID-5.1', 'MSH-10'] }, { 'a.hl7': ADT });
    expect(r).toEqual({ code: 0, stdout: 'DOE\nC1\n', stderr: '' });
  });

  it('prints a group of lines per message, headed, when there are several', () => {
    const r = run(['a.hl7', 'b.hl7'], { get: ['MSH-10'] }, { 'a.hl7': ADT, 'b.hl7': BATCH });
    expect(r.stdout).toBe(
      [
        '==> a.hl7 <==',
        'C1',
        '',
        '==> b.hl7, message 1 of 2 <==',
        'C1',
        '',
        '==> b.hl7, message 2 of 2 <==',
        'C2',
        '',
      ].join('\n'),
    );
  });

  it('refuses a malformed path with exit 2 before reading anything', () => {
    const r = run(['a.hl7'], { get: ['PID-5.1', 'PID5'] }, {});
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^sinew: hl7\.path: "PID5" is not an HL7 path/);
  });

  it('reports a malformed or unreadable file with exit 1 and still shows the others', () => {
    const r = run(
      ['bad.hl7', 'a.hl7', 'gone.hl7'],
      { get: ['MSH-10'] },
      { 'bad.hl7': 'MSH|^~\\&\rpid|1\r', 'a.hl7': ADT },
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('==> a.hl7 <==\nC1\n');
    expect(r.stderr).toMatch(
      /^sinew: bad\.hl7: hl7\.segment_name at line 2 \(pid\): [^\n]+\nsinew: gone\.hl7: cannot read the file \(ENOENT\)\n$/,
    );
  });

  it('shows every message of a batch in the readable view', () => {
    const r = run(['b.hl7'], {}, { 'b.hl7': BATCH });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('=='))).toEqual([
      '== b.hl7, message 1 of 2: ADT^A01, control id C1, version 2.5.1',
      '== b.hl7, message 2 of 2: ORU^R01, control id C2, version 2.5.1',
    ]);
    expect(r.stdout).toContain('\n\n== b.hl7, message 2 of 2');
  });

  it('prints one JSON object for one message and an array for several', () => {
    const one = JSON.parse(run(['a.hl7'], { json: true }, { 'a.hl7': ADT }).stdout);
    expect(one.controlId).toBe('C1');
    const batch = JSON.parse(run(['b.hl7'], { json: true }, { 'b.hl7': BATCH }).stdout);
    expect(batch.map((m: { index: number }) => m.index)).toEqual([1, 2]);
    const files = JSON.parse(run(['a.hl7', 'x.hl7'], { json: true }, { 'a.hl7': ADT }).stdout);
    expect(files).toHaveLength(1);
  });

  it('prints no JSON when its only file fails', () => {
    const r = run(['x.hl7'], { json: true }, {});
    expect(r).toMatchObject({ code: 1, stdout: '' });
  });

  it('names standard input (stdin)', () => {
    const r = run(['-'], {}, { '-': ADT });
    expect(r.stdout.startsWith('== (stdin): ADT^A01')).toBe(true);
  });
});
