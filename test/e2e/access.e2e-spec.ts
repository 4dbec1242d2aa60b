import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { AccessService } from '@sinew/auth';
import { openStore, type Store } from '@sinew/store';
import { adminQuery, withTestSchema } from '../support/postgres';

const ROOT = resolve(__dirname, '..', '..');

// Each test runs the built command several times; a busy machine takes seconds per start.
jest.setTimeout(120_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sinew` as a user would, with `input` on its standard input. */
function runSinew(args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<Run> {
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
    child.stdin.end(input);
  });
}

/** The test runner's environment without any ledger or engine setting of its own. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('SINEW_') || name.startsWith('DATABASE_')) delete env[name];
  }
  return env;
}

interface Ledger {
  env: NodeJS.ProcessEnv;
  /** Opens the ledger the command wrote (after the first command created it). */
  open(): Promise<Store>;
  /** Runs SQL on the ledger directly, as someone editing it by hand would. */
  sql(text: string): Promise<void>;
  /** The ledger's bytes on disk, where the test can read them (SQLite). */
  files(): Buffer[];
  drop(): Promise<void>;
}

interface Backend {
  name: string;
  create(dataDir: string): Promise<Ledger>;
}

const embedded: Backend = {
  name: 'embedded (SQLite)',
  create: async (dataDir) => ({
    env: cleanEnv(),
    open: () => openStore({ dataDir }),
    sql: async (text) => {
      const db = new Database(join(dataDir, 'sinew.db'));
      try {
        db.exec(text);
      } finally {
        db.close();
      }
    },
    files: () =>
      ['sinew.db', 'sinew.db-wal']
        .map((f) => join(dataDir, f))
        .filter((f) => existsSync(f))
        .map((f) => readFileSync(f)),
    drop: async () => undefined,
  }),
};

const postgres: Backend = {
  name: 'PostgreSQL',
  create: async () => {
    const schema = await withTestSchema();
    return {
      env: { ...cleanEnv(), DATABASE_URL: schema.url, DATABASE_SCHEMA: schema.schema },
      open: () => openStore({ databaseUrl: schema.url, schema: schema.schema }),
      sql: async (text) => {
        await adminQuery(schema.url, `SET search_path TO "${schema.schema}"; ${text}`);
      },
      files: () => [],
      drop: () => schema.drop(),
    };
  },
};

describe.each([embedded, postgres])('sinew users, keys and audit, $name', (backend) => {
  let dir: string;
  let dataDir: string;
  let ledger: Ledger;
  let store: Store | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-access-'));
    dataDir = join(dir, 'data');
    ledger = await backend.create(dataDir);
  });

  afterAll(async () => {
    await store?.close();
    await ledger.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const sinew = (args: string[], input?: string) => runSinew([...args, '--data', dataDir], ledger.env, input);

  it('creates the first administrator from a password on standard input, never a default one', async () => {
    const none = await sinew(['users', 'create', '--username', 'alice', '--role', 'admin']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--password-stdin');
    const short = await sinew(
      ['users', 'create', '--username', 'alice', '--role', 'admin', '--password-stdin'],
      'elevenchars\n',
    );
    expect(short).toMatchObject({ code: 2, stdout: '' });
    expect(short.stderr).toContain('at least 12 characters');

    const created = await sinew(
      ['users', 'create', '--username', 'alice', '--role', 'admin', '--password-stdin'],
      'correct horse battery staple\n',
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^created user alice \(role admin\), id [0-9a-f-]{36}\n$/);
    const again = await sinew(
      ['users', 'create', '--username', 'alice', '--role', 'viewer', '--password-stdin'],
      'another long password',
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('a user named alice exists');

    await sinew(
      [
        'users',
        'create',
        '--username',
        'olivia',
        '--role',
        'operator',
        '--channels',
        'lab-results',
        '--password-stdin',
      ],
      'operator password 1',
    );
    const list = await sinew(['users', 'list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^USERNAME\s+ROLE\s+STATE\s+CHANNELS\s+EXTRA SCOPES\s+LAST LOGIN\s+ID$/);
    expect(lines[1]).toMatch(/^alice\s+admin\s+active\s+all\s+-\s+never\s+[0-9a-f-]{36}$/);
    expect(lines[2]).toMatch(/^olivia\s+operator\s+active\s+lab-results\s+-\s+never\s+[0-9a-f-]{36}$/);
    expect(list.stdout).not.toContain('argon2');

    // The password is the one typed (the line ending stripped), checked against an argon2id hash.
    store = await ledger.open();
    const access = new AccessService(store);
    expect(await access.login('alice', 'correct horse battery staple')).toMatchObject({
      ok: true,
      principal: { name: 'alice', scopes: expect.arrayContaining(['admin']) },
    });
    expect(await access.login('alice', 'correct horse battery staple\n')).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('creates a key shown once, alone on the last line; lists, pauses and revokes it, each effective at once', async () => {
    const created = await sinew([
      'keys',
      'create',
      '--name',
      'lab-ci',
      '--scopes',
      'channels:read,messages:read',
      '--channels',
      'lab-results',
      '--expires',
      '90d',
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const lines = created.stdout.trimEnd().split('\n');
    const key = lines[lines.length - 1] as string;
    expect(key).toMatch(/^snw_[a-z0-9]{8}_[0-9a-f]{64}$/);
    const prefix = key.slice(0, 12);
    expect(lines.slice(0, -1).join('\n')).toContain(`prefix:   ${prefix}`);
    expect(lines.slice(0, -1).join('\n')).toContain('scopes:   channels:read, messages:read');
    expect(lines.slice(0, -1).join('\n')).not.toContain(key.slice(13));
    for (const bytes of ledger.files()) expect(bytes.includes(key.slice(13))).toBe(false);

    const bad = await sinew(['keys', 'create', '--name', 'x', '--scopes', 'messages:write']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown scope messages:write');

    store ??= await ledger.open();
    const access = new AccessService(store);
    expect(await access.authenticateKey(key, '10.9.8.7')).toMatchObject({
      kind: 'key',
      name: 'lab-ci',
      scopes: ['channels:read', 'messages:read'],
      channels: ['lab-results'],
      via: prefix.slice(4),
    });

    const listed = await sinew(['keys', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(key.slice(13));
    const row = listed.stdout.split('\n').find((l) => l.startsWith(prefix)) as string;
    expect(row).toMatch(
      /^snw_[a-z0-9]{8}\s+lab-ci\s+active\s+channels:read,messages:read\s+lab-results\s+\S+Z\s+\S+Z\s+\S+Z from 10\.9\.8\.7\s+[0-9a-f-]{36}$/,
    );

    expect(await sinew(['keys', 'pause', prefix])).toMatchObject({
      code: 0,
      stdout: `paused key ${prefix}\n`,
    });
    expect(await access.authenticateKey(key)).toBeUndefined();
    expect(await sinew(['keys', 'resume', prefix])).toMatchObject({ code: 0 });
    expect(await access.authenticateKey(key)).toBeDefined();
    expect(await sinew(['keys', 'revoke', prefix])).toMatchObject({
      code: 0,
      stdout: `revoked key ${prefix}\n`,
    });
    expect(await access.authenticateKey(key)).toBeUndefined();
    const resumed = await sinew(['keys', 'resume', prefix]);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain('is revoked');
    expect((await sinew(['keys', 'list'])).stdout).toMatch(
      new RegExp(`^${prefix}\\s+lab-ci\\s+revoked\\s`, 'm'),
    );
    expect(await sinew(['keys', 'revoke', 'snw_nosuchkey'])).toMatchObject({ code: 1 });
  });

  it('records every change in the audit log, and audit verify finds a row edited, removed or inserted by hand', async () => {
    const list = await sinew(['audit', 'list', '--limit', '3']);
    expect(list.code).toBe(0);
    const rows = list.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^SEQ\s+AT\s+ACTOR\s+KIND\s+VIA\s+ACTION\s+OUTCOME\s+CONTENT\s+OBJECTS$/);
    expect(rows.slice(1).map((r) => r.split(/\s{2,}/).slice(2, 7))).toEqual([
      ['cli', 'cli', '-', 'cli keys resume', 'access.conflict'],
      ['cli', 'cli', '-', 'cli keys revoke', 'ok'],
      ['cli', 'cli', '-', 'cli keys resume', 'ok'],
    ]);
    const all = (await sinew(['audit', 'list', '--ndjson'])).stdout.trimEnd().split('\n');
    const actions = all.map((l) => (JSON.parse(l) as { action: string; outcome: string }).action).reverse();
    expect(actions).toEqual([
      'cli users create',
      'cli users create',
      'cli users create',
      'cli keys create',
      'cli keys pause',
      'cli keys resume',
      'cli keys revoke',
      'cli keys resume',
    ]);
    const count = all.length;

    const whole = await sinew(['audit', 'verify']);
    expect(whole.stderr).toBe('');
    expect(whole).toMatchObject({ code: 0 });
    expect(whole.stdout).toMatch(
      new RegExp(`^audit chain whole: ${count} rows, head row ${count}, hash [0-9a-f]{64}\\n$`),
    );

    // Edited: the actor of row 2 rewritten; put back, the chain is whole again.
    await ledger.sql("UPDATE audit_event SET actor = 'mallory' WHERE seq = 2");
    const edited = await sinew(['audit', 'verify']);
    expect(edited.code).toBe(1);
    expect(edited.stdout).toBe('');
    expect(edited.stderr).toBe(
      'sinew audit verify: the chain is broken at row 2: its fields do not match its hash: edited (1 rows before it verified)\n',
    );
    await ledger.sql("UPDATE audit_event SET actor = 'cli' WHERE seq = 2");
    expect((await sinew(['audit', 'verify'])).code).toBe(0);

    // Removed: row 3 deleted (kept aside, then put back).
    await ledger.sql('CREATE TABLE kept AS SELECT * FROM audit_event WHERE seq = 3');
    await ledger.sql('DELETE FROM audit_event WHERE seq = 3');
    const removed = await sinew(['audit', 'verify']);
    expect(removed.code).toBe(1);
    expect(removed.stderr).toBe(
      'sinew audit verify: the chain is broken at row 3: row 3 is missing: removed (the next row is 4) (2 rows before it verified)\n',
    );
    await ledger.sql('INSERT INTO audit_event SELECT * FROM kept; DROP TABLE kept');
    expect((await sinew(['audit', 'verify'])).code).toBe(0);

    // Inserted: a forged row after the newest one, chained to it but not sealed by the writer.
    await ledger.sql(
      'INSERT INTO audit_event (seq, at, actor, actor_kind, action, outcome, content_read, prev_hash, hash) ' +
        `SELECT seq + 1, at, 'mallory', 'user', 'GET /api/v1/messages/{id}', '200', 1, hash, hash FROM audit_event WHERE seq = ${count}`,
    );
    const inserted = await sinew(['audit', 'verify']);
    expect(inserted.code).toBe(1);
    expect(inserted.stderr).toContain(`broken at row ${count + 1}:`);
    await ledger.sql(`DELETE FROM audit_event WHERE seq = ${count + 1}`);
    expect((await sinew(['audit', 'verify'])).code).toBe(0);
  });
});
