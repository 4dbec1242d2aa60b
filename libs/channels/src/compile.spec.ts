import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { compileChannel } from './compile';
import { loadEnvironment, maskSecrets, type ChannelEnvironment } from './env';
import { formatProblem } from './problem';
import { builtInRegistries } from './registries';

const registries = builtInRegistries();
const strict = (values: Record<string, string> = {}): ChannelEnvironment => ({ values, strict: true });

const lab = (extra = '') => `id: lab
source: { type: mllp, listen: 0 }
keys: { mrn: PID-3.1 }
pipeline:
  - map: { transformer: oru-to-fhir }
destinations:
  - name: ehr
    type: fhir
    base_url: \${EHR_URL:-http://127.0.0.1:1/fhir}
    ordering: PID-3.1
    retry: { attempts: 3 }
${extra}`;

function lines(text: string, env = strict()): string[] {
  return compileChannel(text, 'c.yaml', registries, { env }).problems.map(formatProblem);
}

describe('compileChannel', () => {
  it('compiles a valid channel: keys and ordering read the message, defaults filled in', () => {
    const r = compileChannel(lab(), 'c.yaml', registries, { env: strict() });
    expect(r.problems).toEqual([]);
    const ch = r.channel!;
    expect(ch.spec.duplicates.window_ms).toBe(86_400_000);
    const msg = Hl7Message.parse('MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5.1\rPID|1||M-77^^^X^MR\r');
    expect(ch.keys[0]?.read({ kind: 'hl7v2', message: msg })).toBe('M-77');
    const ordering = ch.destinations[0]?.ordering;
    expect(ordering?.kind === 'key' && ordering.read({ kind: 'hl7v2', message: msg })).toBe('M-77');
    expect(ch.destinations[0]?.config).toMatchObject({ base_url: 'http://127.0.0.1:1/fhir' });
    expect(ch.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('sends the message as received to a destination with payload: raw', () => {
    const r = compileChannel(
      lab(`  - name: archive
    type: file
    directory: /tmp/archive
    payload: raw
    retry: { attempts: 1 }
`),
      'c.yaml',
      registries,
      { env: strict() },
    );
    expect(r.problems).toEqual([]);
    expect(r.channel?.destinations[1]?.payload).toBe('raw');
  });

  it('refuses payload: raw of HL7 v2 to a FHIR destination', () => {
    expect(
      lines(lab().replace('    retry: { attempts: 3 }', '    retry: { attempts: 3 }\n    payload: raw')),
    ).toEqual([
      'c.yaml:8:11 error payload.destination destinations.0.type: a fhir destination sends fhir, but hl7v2 reaches it (add a map step or a transformer that produces FHIR)',
    ]);
  });

  it('an unset ${VAR} is an error in a strict environment and a warning otherwise', () => {
    const text = lab().replace('${EHR_URL:-http://127.0.0.1:1/fhir}', '${EHR_URL}');
    expect(lines(text)).toEqual([
      'c.yaml:9:15 error env.unset destinations.0.base_url: environment variable EHR_URL has no value (write ${EHR_URL:-default} for a default)',
    ]);
    expect(lines(text, { values: {}, strict: false })[0]).toMatch(/^c\.yaml:9:15 warning env\.unset/);
  });

  it('reads ${file:PATH} secrets and masks them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-secret-'));
    writeFileSync(join(dir, 'token'), 's3cr3t-value\n');
    const text = `id: hook
source: { type: http, listen: 0, auth_token: '\${file:token}' }
destinations:
  - { name: out, type: file, directory: /tmp/out, retry: { attempts: 1 } }
`;
    const r = compileChannel(text, 'c.yaml', registries, { env: { values: {}, strict: true, baseDir: dir } });
    expect(r.problems).toEqual([]);
    expect((r.channel?.source.config as { auth_token: string }).auth_token).toBe('s3cr3t-value');
    expect(maskSecrets(JSON.stringify(r.channel?.resolved), r.channel!.secrets)).not.toContain('s3cr3t');
    const missing = compileChannel(text.replace('file:token', 'file:nope'), 'c.yaml', registries, {
      env: { values: {}, strict: true, baseDir: dir },
    });
    expect(missing.problems.map(formatProblem)).toEqual([
      'c.yaml:2:46 error env.file source.auth_token: secret file nope cannot be read (ENOENT)',
    ]);
  });

  it('masks a long secret wherever it occurs, a short one only where it stands alone', () => {
    const secrets = new Set(['s3cr3t-value', 'x', 'a.b']);
    expect(
      maskSecrets(
        'max_file_bytes: x; url: postgres://u:s3cr3t-value@db; token=x; id: abs3cr3t-value',
        secrets,
      ),
    ).toBe('max_file_bytes: ******; url: postgres://u:******@db; token=******; id: ab******');
    // Characters that mean something in a regular expression are taken literally.
    expect(maskSecrets('a.b axb (a.b)', secrets)).toBe('****** axb (******)');
  });

  it('takes values from the selected environment file, the process environment first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-env-'));
    writeFileSync(join(dir, 'staging.yaml'), 'EHR_URL: http://staging/fhir\nLAB_PORT: 2600\n');
    const env = loadEnvironment({ SINEW_ENV: 'staging', SINEW_ENV_DIR: dir, LAB_PORT: '2700' });
    expect(env.name).toBe('staging');
    expect(env.values.EHR_URL).toBe('http://staging/fhir');
    expect(env.values.LAB_PORT).toBe('2700');
    expect(() => loadEnvironment({ SINEW_ENV: 'prod', SINEW_ENV_DIR: dir })).toThrow(
      /environment prod: cannot read .*prod\.yaml \(ENOENT\)/,
    );
  });
});
