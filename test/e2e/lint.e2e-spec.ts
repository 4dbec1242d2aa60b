import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LintProblem } from '@sinew/channels';

const ROOT = resolve(__dirname, '..', '..');
const BROKEN = 'libs/channels/test/broken';

/** Runs the built command as a user does: `node bin/sinew.js lint …` in the checkout. */
function lint(args: string[], cwd = ROOT): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.SINEW_ENV;
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sinew.js'), 'lint', ...args], {
    cwd,
    encoding: 'utf8',
    env,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CLEAN = `id: archive
source: { type: mllp, listen: '127.0.0.1:2575' }
pipeline:
  - filter: { path: MSH-9.1, equals: ADT }
destinations:
  - { name: archive, type: file, directory: out, retry: { attempts: 3 } }
`;

describe('sinew lint (built command)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-lint-e2e-'));
    writeFileSync(join(dir, 'archive.yaml'), CLEAN);
    writeFileSync(
      join(dir, 'quiet.yaml'),
      CLEAN.replace('id: archive', 'id: quiet')
        .replace('2575', '2576')
        .replace(', retry: { attempts: 3 }', ''),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 on files without errors; warnings are shown, the summary goes to stderr', () => {
    const r = lint(['.'], dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      'quiet.yaml:6:13 warning destination.implicit_dead_letter destinations.0.name: destination archive leaves retries to the defaults (10 attempts, then dead-lettered): write retry: { attempts: … } to say what happens when it keeps failing\n',
    );
    expect(r.stderr).toBe('0 errors, 1 warning in 2 files\n');
  });

  it('--quiet shows errors only', () => {
    const r = lint(['--quiet', '.'], dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('0 errors in 2 files\n');
  });

  it('exits 1 when a file has an error, one line per finding sorted by file, line and column', () => {
    const r = lint([`${BROKEN}/tls-file.yaml`, `${BROKEN}/bad-enum.yaml`, `${BROKEN}/disabled.yaml`]);
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n')).toEqual([
      `${BROKEN}/bad-enum.yaml:6:15 error schema.value pipeline.0.validate.policy: rejct is not allowed; choose reject, dead_letter, continue; did you mean reject?`,
      `${BROKEN}/disabled.yaml:3:10 warning channel.disabled enabled: channel old-lab is disabled (enabled: false): checked, not deployed`,
      `${BROKEN}/tls-file.yaml:6:15 error tls.file_missing source.tls.key: file certs/missing.key does not exist`,
      `${BROKEN}/tls-file.yaml:6:40 error tls.file_missing source.tls.cert: file certs/missing.crt does not exist`,
      '',
    ]);
    expect(r.stderr).toBe('3 errors, 1 warning in 3 files\n');
  });

  it('reports a transformer file that does not load (transformer.invalid)', () => {
    const r = lint([`${BROKEN}/transformer-invalid.yaml`]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(
      `${BROKEN}/transformer-invalid.yaml:9:10 error transformer.invalid no map named PID[Patinet] (map.unknown)\n`,
    );
  });

  it('--format json prints the findings as an array', () => {
    const r = lint(['--format', 'json', `${BROKEN}/bad-enum.yaml`]);
    expect(r.status).toBe(1);
    const problems = JSON.parse(r.stdout) as LintProblem[];
    expect(problems).toEqual([
      {
        file: `${BROKEN}/bad-enum.yaml`,
        line: 6,
        column: 15,
        severity: 'error',
        code: 'schema.value',
        path: 'pipeline.0.validate.policy',
        message: 'rejct is not allowed; choose reject, dead_letter, continue; did you mean reject?',
      },
    ]);
    expect(r.stderr).toBe('1 error, 0 warnings in 1 file\n');
  });

  it('--env NAME makes an unset variable an error', () => {
    const envDir = join(dir, 'environments');
    rmSync(envDir, { recursive: true, force: true });
    mkdirSync(envDir);
    writeFileSync(join(envDir, 'test.yaml'), 'OTHER: 1\n');
    const file = resolve(ROOT, BROKEN, 'env-unset.yaml');
    const lax = lint([file], dir);
    expect(lax.status).toBe(0);
    expect(lax.stdout).toContain(' warning env.unset ');
    const strict = lint(['--env', 'test', file], dir);
    expect(strict.status).toBe(1);
    expect(strict.stdout).toContain(
      'error env.unset destinations.0.url: environment variable SINEW_BROKEN_EHR_URL has no value in environment test',
    );
    rmSync(envDir, { recursive: true, force: true });
  });

  it('exits 2 when an input cannot be read, after linting the others', () => {
    const r = lint(['no-such-folder', `${BROKEN}/bad-enum.yaml`]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('sinew: no-such-folder: no such file or folder\n1 error, 0 warnings in 1 file\n');
    expect(r.stdout).toContain('bad-enum.yaml:6:15 error schema.value');
  });

  it('exits 2 on a usage error or an environment that cannot be read', () => {
    expect(lint(['--format', 'xml']).status).toBe(2);
    expect(lint(['--no-such-option']).status).toBe(2);
    const missing = lint(['--transformers', 'no-such-transformers', '--', `${BROKEN}/bad-enum.yaml`]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^sinew: no-such-transformers: no such transformer folder\n/);
    const r = lint(['--env', 'nowhere', '.'], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^sinew: environment nowhere: cannot read .*nowhere\.yaml \(ENOENT\)\n$/);
  });

  it('the shipped channels/ and transformers/ have no errors', () => {
    const r = lint(['--quiet', 'channels', 'transformers']);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^0 errors in \d+ files\n$/);
  });
});
