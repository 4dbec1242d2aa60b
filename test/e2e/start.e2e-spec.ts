import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/engine-process';

jest.setTimeout(30_000);

function start(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      ['bin/sinew.js', 'start', ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 20_000 },
      (err, _stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }),
    ),
  );
}

describe('sinew start refuses to start', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-start-'));
    mkdirSync(join(dir, 'channels'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('on invalid settings, listing every problem', async () => {
    const r = await start(['--channels', join(dir, 'channels')], {
      SINEW_HTTP_PORT: 'eighty',
      DATABASE_URL: 'mysql://db',
      SINEW_ROLES: 'sources,cooks',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid configuration');
    expect(r.stderr).toMatch(/SINEW_HTTP_PORT: /);
    expect(r.stderr).toMatch(/DATABASE_URL: must be a postgres:\/\/ URL/);
    expect(r.stderr).toMatch(/SINEW_ROLES: unknown role cooks/);
  });

  it('on a channel that does not load, naming file, line, column and reason for each problem', async () => {
    writeFileSync(
      join(dir, 'channels', 'bad.yaml'),
      [
        'id: bad',
        'source: { type: mllp, listen: "127.0.0.1:0", max_conections: 3 }',
        'pipeline:',
        '  - map: { transformer: no-such-map }',
        'destinations:',
        '  - { name: ehr, type: fhir, base_url: "${EHR_URL_UNSET}" }',
        '  - { name: out, type: carrier-pigeon }',
        '',
      ].join('\n'),
    );
    const r = await start([
      '--channels',
      join(dir, 'channels'),
      '--data',
      join(dir, 'data'),
      '--http-port',
      '0',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('channels do not compile');
    expect(r.stderr).toMatch(
      /bad\.yaml:6:\d+ error env\.unset destinations\.0\.base_url: environment variable EHR_URL_UNSET has no value/,
    );
    const again = await start(
      ['--channels', join(dir, 'channels'), '--data', join(dir, 'data'), '--http-port', '0'],
      {
        EHR_URL_UNSET: 'http://127.0.0.1:1/fhir',
      },
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /bad\.yaml:2:\d+ error schema\.unknown_key source\.max_conections: unknown key max_conections; did you mean max_connections\?/,
    );
    expect(again.stderr).toMatch(
      /bad\.yaml:4:\d+ error reference\.transformer pipeline\.0\.map\.transformer: no transformer named no-such-map/,
    );
    expect(again.stderr).toMatch(
      /bad\.yaml:7:\d+ error reference\.connector destinations\.1\.type: unknown destination type carrier-pigeon/,
    );
  });
});
