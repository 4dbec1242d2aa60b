import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AccessService, AuditLog, OAuthError } from '@sinew/auth';
import { openStore, type Store } from '@sinew/store';

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

describe('sinew clients (OAuth2 client credentials) on an embedded ledger', () => {
  let dir: string;
  let store: Store | undefined;
  const sinew = (args: string[]) => runSinew([...args, '--data', join(dir, 'data')]);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-clients-'));
  });

  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a secret client (the secret alone on the last line) and a key client; lists, pauses, resumes and revokes, audited', async () => {
    const created = await sinew([
      'clients',
      'create',
      '--name',
      'etl',
      '--scopes',
      'messages:read',
      '--channels',
      'lab',
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const lines = created.stdout.trimEnd().split('\n');
    const secret = lines[lines.length - 1] as string;
    expect(secret).toMatch(/^[\w-]{43}$/);
    const id = /client_id: (snc_[0-9a-f]{20})/.exec(created.stdout)?.[1] as string;
    expect(id).toBeDefined();
    expect(readFileSync(join(dir, 'data', 'sinew.db')).includes(secret)).toBe(false);

    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'signer.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const keyed = await sinew([
      'clients',
      'create',
      '--name',
      'signer',
      '--scopes',
      'admin',
      '--public-key',
      join(dir, 'signer.pem'),
    ]);
    expect(keyed.code).toBe(0);
    expect(keyed.stdout).toContain('auth:      private_key_jwt');
    expect(keyed.stdout).not.toContain('secret follows');
    const bad = await sinew(['clients', 'create', '--name', 'x', '--scopes', 'messages:write']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown scope messages:write');

    store = await openStore({ dataDir: join(dir, 'data') });
    const access = new AccessService(store);
    const ask = () =>
      access.issueToken({
        grantType: 'client_credentials',
        basic: { clientId: id, clientSecret: secret },
        audiences: [],
      });
    expect((await ask()).scope).toBe('messages:read');

    const listed = await sinew(['clients', 'list']);
    expect(listed.stdout).not.toContain(secret);
    expect(listed.stdout).toMatch(
      new RegExp(`^${id}\\s+etl\\s+active\\s+client_secret\\s+messages:read\\s+lab\\s`, 'm'),
    );
    expect(listed.stdout).toMatch(/^snc_[0-9a-f]{20}\s+signer\s+active\s+private_key_jwt\s+admin\s+all\s/m);

    expect(await sinew(['clients', 'pause', id])).toMatchObject({ code: 0, stdout: `paused client ${id}\n` });
    await expect(ask()).rejects.toBeInstanceOf(OAuthError);
    expect(await sinew(['clients', 'resume', id])).toMatchObject({ code: 0 });
    expect((await ask()).token_type).toBe('Bearer');
    expect(await sinew(['clients', 'revoke', id])).toMatchObject({
      code: 0,
      stdout: `revoked client ${id}\n`,
    });
    await expect(ask()).rejects.toMatchObject({ error: 'invalid_client' });
    const resumed = await sinew(['clients', 'resume', id]);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain('is revoked');
    expect(await sinew(['clients', 'revoke', 'snc_nosuchclient'])).toMatchObject({ code: 1 });

    const { items } = await new AuditLog(store).search({ actor: 'cli', limit: 20 });
    expect(items.map((e) => `${e.action} ${e.outcome}`)).toEqual(
      expect.arrayContaining([
        'cli clients create ok',
        'cli clients pause ok',
        'cli clients resume ok',
        'cli clients revoke ok',
      ]),
    );
  });
});
