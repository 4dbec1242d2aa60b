import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AppsService, AuditLog } from '@sinew/auth';
import { openStore } from '@sinew/store';

const ROOT = resolve(__dirname, '..', '..');

jest.setTimeout(120_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runSinew(args: string[]): Promise<Run> {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('SINEW_') || name.startsWith('DATABASE_')) delete env[name];
  }
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['bin/sinew.js', ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
    child.stdin.end();
  });
}

/** `client_id=…` and `client_secret=…`, the last two lines of `apps create`. */
function credentials(stdout: string): { id: string; secret: string } {
  const lines = stdout.trimEnd().split('\n');
  const [idLine, secretLine] = lines.slice(-2) as [string, string];
  expect(idLine).toMatch(/^client_id=sna_[0-9a-f]{20}$/);
  expect(secretLine).toMatch(/^client_secret=/);
  return { id: idLine.slice('client_id='.length), secret: secretLine.slice('client_secret='.length) };
}

describe('sinew apps on an embedded ledger', () => {
  let dir: string;
  const sinew = (args: string[]) => runSinew([...args, '--data', join(dir, 'data')]);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-apps-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates an approved app whose printed credentials get a token; lists, shows, pauses, resumes, switches writes, promotes and revokes it, audited', async () => {
    const created = await sinew([
      'apps',
      'create',
      '--name',
      'scribe',
      '--scopes',
      'system/Patient.rs system/Observation.rs',
      '--approve',
      '--events',
      'patient.created,result.final',
      '--contact',
      'dev@scribe.example',
      '--reason',
      'transcribes consultations',
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const { id, secret } = credentials(created.stdout);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.stdout).toContain('state:        active');

    // The printed secret works at the registry the engine uses.
    const store = await openStore({ dataDir: join(dir, 'data') });
    const apps = new AppsService(store, new AuditLog(store));
    try {
      const token = await apps.issueToken({
        grantType: 'client_credentials',
        clientId: id,
        clientSecret: secret,
        scope: 'system/Patient.rs',
        audiences: [],
      });
      expect(token.scope).toBe('system/Patient.rs');
    } finally {
      await store.close();
    }

    const list = await sinew(['apps', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/APP ID\s+NAME\s+ENVIRONMENT\s+STATE\s+WRITES\s+TOUCHES\s+LAST CALL/);
    expect(list.stdout).toMatch(
      new RegExp(`${id}\\s+scribe\\s+sandbox\\s+active\\s+on\\s+Observation:r,Patient:r\\s+never`),
    );
    expect(list.stdout).not.toContain(secret);

    const show = await sinew(['apps', 'show', 'scribe']);
    expect(show.stdout).toContain('granted for:  transcribes consultations');
    expect(show.stdout).toContain('events:       patient.created, result.final');

    expect((await sinew(['apps', 'pause', id])).stdout).toBe(`paused app scribe (${id}): paused\n`);
    expect((await sinew(['apps', 'resume', 'scribe'])).stdout).toBe(`resumed app scribe (${id}): active\n`);
    expect((await sinew(['apps', 'writes', id, 'off'])).stdout).toBe(`writes off for app scribe (${id})\n`);
    const scopes = await sinew(['apps', 'scopes', id, '--approved', 'system/Patient.rs']);
    expect(scopes.stdout).toContain('approved system/Patient.rs');

    const promoted = await sinew(['apps', 'promote', id]);
    expect(promoted.code).toBe(0);
    const after = credentials(promoted.stdout);
    expect(after.id).toBe(id);
    expect(after.secret).not.toBe(secret);

    const reinstate = await sinew(['apps', 'reinstate', id]);
    expect(reinstate).toMatchObject({
      code: 1,
      stderr: `sinew apps reinstate: app ${id} is active, not suspended\n`,
    });
    expect((await sinew(['apps', 'revoke', id])).stdout).toBe(`revoked app scribe (${id}): revoked\n`);

    const audit = await sinew(['audit', 'list', '--actor', 'cli']);
    expect(audit.stdout).toContain('cli apps create');
    expect(audit.stdout).toContain('cli apps promote');
  });

  it('creates a pending app that an admin approves, and a private_key_jwt app with no secret', async () => {
    const pending = await sinew([
      'apps',
      'create',
      '--name',
      'receptionist',
      '--scopes',
      'system/Appointment.cruds',
    ]);
    expect(pending.code).toBe(0);
    const { id } = credentials(pending.stdout);
    expect(pending.stdout).toContain('state:        pending');
    const approved = await sinew([
      'apps',
      'approve',
      id,
      '--scopes',
      'system/Appointment.rs',
      '--reason',
      'reads the diary',
    ]);
    expect(approved.stdout).toBe(`approved system/Appointment.rs for app receptionist (${id})\n`);

    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [{ ...jwk, kid: 'k1' }] }));
    const keyed = await sinew([
      'apps',
      'create',
      '--name',
      'analytics',
      '--scopes',
      'system/*.rs',
      '--environment',
      'production',
      '--jwks',
      join(dir, 'keys.json'),
    ]);
    expect(keyed.code).toBe(0);
    expect(credentials(keyed.stdout).secret).toBe('');
    expect(keyed.stdout).toContain('auth:         private_key_jwt');
  });

  it('refuses bad input with a specific message and exit code', async () => {
    const bad = await sinew(['apps', 'create', '--name', 'x', '--scopes', 'patient/Patient.rs']);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toContain('not a SMART system scope: patient/Patient.rs');
    const event = await sinew([
      'apps',
      'create',
      '--name',
      'x',
      '--scopes',
      'system/Patient.rs',
      '--events',
      'nope',
    ]);
    expect(event.code).toBe(2);
    expect(event.stderr).toContain('unknown event nope');
    const missing = await sinew(['apps', 'pause', 'no-such-app']);
    expect(missing).toMatchObject({ code: 1, stderr: 'sinew apps pause: no app no-such-app\n' });
    const writes = await sinew(['apps', 'writes', 'x', 'maybe']);
    expect(writes.code).toBe(2);
  });
});
