import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { corpusFiles, corpusPath } from '@sinew/test-support';

const ROOT = resolve(__dirname, '..', '..');

/** Runs the built command as a user does: `node bin/sinew.js inspect …`. */
function inspect(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/sinew.js', 'inspect', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    input,
    env: { ...process.env, NO_COLOR: '' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const MEDPLUM_A04 = corpusPath('hl7v2', 'medplum', 'messages', 'adt-a04-lf-separated.hl7');
const PY = (name: string) => corpusPath('hl7v2', 'python-hl7', 'samples', name);
const CONVERTER = (name: string) => corpusPath('fhir-converter-01', 'hl7v2-samples', name);

describe('sinew inspect (built command)', () => {
  describe('readable view', () => {
    it('shows the message heading and each field with its name and decoded value', () => {
      const r = inspect([MEDPLUM_A04]);
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      const lines = r.stdout.split('\n');
      expect(lines[0]).toBe(`== ${MEDPLUM_A04}: ADT^A04, control id 1817457, version 2.5`);
      expect(lines).toContain('MSH  Message Header');
      expect(lines).toContain('PID  Patient Identification');
      expect(lines).toContainEqual(expect.stringMatching(/^ {2}MSH-3 +Sending Application +EPIC$/));
      expect(lines).toContainEqual(expect.stringMatching(/^ {2}PID-5 +Patient Name +DOE\^JOHN\^\^\^\^$/));
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}PID-5\.1 +Family Name +DOE$/));
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}PID-5\.2 +Given Name +JOHN$/));
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}NK1-2\.2 +Given Name +MARIE$/));
      expect(lines).toContainEqual(expect.stringMatching(/^ {4}PID-18\[2\] +1129086$/));
    });

    it('resolves escapes (\\T\\ → &) and numbers repeated segments', () => {
      const file = CONVERTER('ORU-R01-01.hl7');
      const r = inspect([file]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(
        /\n {2}NTE\[1\]-3 +Comment +Enteric culture .*O157:H7 & other STECs, and Aeromonas\n/,
      );
      expect(r.stdout).toContain('\nOBX[2]  Observation/Result\n');
      expect(r.stdout).toMatch(/\n {4}OBX\[5\]-5\[1\] +27\n/);
    });

    it('writes no colour codes when stdout is not a terminal', () => {
      expect(inspect([MEDPLUM_A04]).stdout).not.toContain('\x1b');
    });

    it('shows each message of a batch file', () => {
      const r = inspect([PY('sample_file1.hl7')]);
      expect(r.status).toBe(0);
      const headings = r.stdout.split('\n').filter((l) => l.startsWith('== '));
      expect(headings).toHaveLength(3);
      expect(headings.map((h) => h.replace(/^== .*, (message \d of \d):.*$/, '$1'))).toEqual([
        'message 1 of 3',
        'message 2 of 3',
        'message 3 of 3',
      ]);
    });

    it('reads standard input for -', () => {
      const r = inspect(['-'], 'MSH|^~\\&|APP||||||ADT^A01|X1|P|2.5.1\rPID|1||||ROE^JANE\r');
      expect(r.status).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe('== (stdin): ADT^A01, control id X1, version 2.5.1');
      expect(r.stdout).toMatch(/\n {4}PID-5\.1 +Family Name +ROE\n/);
    });

    it('shows every fhir-converter sample (57 message types) without an error', () => {
      const dir = corpusPath('fhir-converter-01', 'hl7v2-samples');
      const files = readdirSync(dir)
        .filter((f) => f.endsWith('.hl7'))
        .map((f) => join(dir, f));
      const r = inspect(files);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.split('\n').filter((l) => l.startsWith('== '))).toHaveLength(files.length);
    });

    it('reports every malformed corpus file as a typed error, never a crash', () => {
      const files = corpusFiles('hl7v2', (name) => name.endsWith('.hl7'));
      const r = inspect(files);
      expect(r.status).toBe(1);
      const errors = r.stderr.trimEnd().split('\n');
      expect(errors.length).toBeGreaterThan(0);
      for (const line of errors) expect(line).toMatch(/^sinew: \S+\.hl7: hl7\.[a-z_.]+ (at line \d+.*)?: /);
      expect(r.stdout).toContain(`== ${MEDPLUM_A04}: ADT^A04`);
    });
  });

  describe('--json', () => {
    it('prints a tree with 1-based positions, paths, names and decoded values', () => {
      const r = inspect(['--json', MEDPLUM_A04]);
      expect(r.status).toBe(0);
      const msg = JSON.parse(r.stdout);
      expect(msg).toMatchObject({
        file: MEDPLUM_A04,
        index: 1,
        type: 'ADT^A04',
        controlId: '1817457',
        version: '2.5',
      });
      const pid = msg.segments.find((s: { name: string }) => s.name === 'PID');
      expect(pid).toMatchObject({
        name: 'PID',
        occurrence: 1,
        path: 'PID',
        description: 'Patient Identification',
      });
      const pid5 = pid.fields.find((f: { index: number }) => f.index === 5);
      expect(pid5).toEqual({
        index: 5,
        path: 'PID-5',
        name: 'Patient Name',
        repetitions: [
          {
            index: 1,
            path: 'PID-5',
            components: [
              { index: 1, path: 'PID-5.1', name: 'Family Name', value: 'DOE' },
              { index: 2, path: 'PID-5.2', name: 'Given Name', value: 'JOHN' },
            ],
          },
        ],
      });
      const pid7 = pid.fields.find((f: { index: number }) => f.index === 7);
      expect(pid7).toEqual({ index: 7, path: 'PID-7', name: 'Date/Time of Birth', value: '19480203' });
    });

    it('prints an array for a batch file', () => {
      const r = inspect(['--json', PY('sample_file1.hl7')]);
      expect(r.status).toBe(0);
      const msgs = JSON.parse(r.stdout);
      expect(msgs.map((m: { index: number; type: string }) => [m.index, m.type])).toEqual([
        [1, 'ADT^A04'],
        [2, 'ADT^A04'],
        [3, 'ADT^A04'],
      ]);
    });
  });

  describe('--get', () => {
    it('prints exactly the decoded values, one line per path, in order', () => {
      const r = inspect([
        '--get',
        'MSH-3',
        '--get',
        'NK1-2.2',
        '--get',
        'PID-99',
        '--get',
        'PID-5.1',
        MEDPLUM_A04,
      ]);
      expect(r).toEqual({ status: 0, stdout: 'EPIC\nMARIE\n\nDOE\n', stderr: '' });
    });

    it('decodes escapes and addresses segment occurrences and repetitions', () => {
      const r = inspect([
        '--get',
        'OBX[2]-2',
        '--get',
        'OBX[5]-5[2]',
        '--get',
        'NTE-3',
        CONVERTER('ORU-R01-01.hl7'),
      ]);
      expect(r.status).toBe(0);
      const [obx2, rep, nte] = r.stdout.split('\n');
      expect(obx2).toBe('ED');
      expect(rep).toBe('25');
      expect(nte).toContain('E.coli O157:H7 & other STECs');
    });

    it('prints a headed group of lines per message of a batch', () => {
      const file = PY('sample_file1.hl7');
      const r = inspect(['--get', 'MSH-10', file]);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(
        [
          `==> ${file}, message 1 of 3 <==`,
          '12334456778890',
          '',
          `==> ${file}, message 2 of 3 <==`,
          '12334456778891',
          '',
          `==> ${file}, message 3 of 3 <==`,
          '12334456778890',
          '',
        ].join('\n'),
      );
    });

    it('exits 2 with hl7.path for a malformed path', () => {
      const r = inspect(['--get', 'PID-5', '--get', 'PID.5', MEDPLUM_A04]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^sinew: hl7\.path: "PID\.5" is not an HL7 path/);
    });

    it('cannot be combined with --json (usage error, exit 2)', () => {
      const r = inspect(['--json', '--get', 'PID-5', MEDPLUM_A04]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("'--get <path>' cannot be used with option '--json'");
    });
  });

  describe('malformed input', () => {
    it('exits 1 with the typed error on stderr and still shows the other files', () => {
      const bad = PY('sample_bad_file1.hl7');
      const r = inspect(['--get', 'MSH-3', bad, MEDPLUM_A04, 'no-such-file.hl7']);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        `sinew: ${bad}: hl7.batch.duplicate_bhs at line 5 (BHS): a batch cannot have more than one BHS segment\n` +
          'sinew: no-such-file.hl7: cannot read the file (ENOENT)\n',
      );
      expect(r.stdout).toBe(`==> ${MEDPLUM_A04} <==\nEPIC\n`);
    });

    it('names the line of a bad segment', () => {
      const r = inspect(['-'], 'MSH|^~\\&|APP\rPID|1\rpv1|2\r');
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^sinew: \(stdin\): hl7\.segment_name at line 3 \(pv1\): /);
    });
  });

  describe('the demo samples', () => {
    it('show the ADT^A01 with decoded values', () => {
      const r = inspect(['channels/samples/adt-a01.hl7']);
      expect(r.status).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe(
        '== channels/samples/adt-a01.hl7: ADT^A01, control id DEMO-ADT-0001, version 2.5.1',
      );
      expect(r.stdout).toMatch(/\n {2}AL1-5 +Allergy Reaction Code +Hives & swelling\n/);
    });

    it('answer the README demo paths', () => {
      const r = inspect([
        '--get',
        'PID-5.1',
        '--get',
        'PID-7',
        '--get',
        'OBX[2]-5',
        'channels/samples/oru-r01.hl7',
      ]);
      expect(r).toEqual({ status: 0, stdout: 'TESTPATIENT\n19800214\n1.4\n', stderr: '' });
    });
  });
});
