import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { AccessService } from './access.service';
import { hashKey } from './api-keys';

jest.setTimeout(60_000);

interface Backend {
  name: string;
  open(): Promise<{ store: TypeOrmStore; drop: () => Promise<void> }>;
}

const sqlite: Backend = {
  name: 'SQLite',
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-auth-'));
    return {
      store: await openStore({ dataDir: dir }),
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

const postgres: Backend = {
  name: 'PostgreSQL',
  open: async () => {
    const schema: TestSchema = await withTestSchema();
    return {
      store: await openStore({ databaseUrl: schema.url, schema: schema.schema }),
      drop: () => schema.drop(),
    };
  },
};

/** A clock the test moves. */
function clock(start = '2026-03-01T08:00:00.000Z') {
  let now = new Date(start).getTime();
  return {
    now: () => new Date(now),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe.each([sqlite, postgres])('access on $name', (backend) => {
  let store: TypeOrmStore;
  let drop: () => Promise<void>;
  /** Parameter placeholders of the backend's raw SQL. */
  let p: (n: number) => string;

  beforeAll(async () => {
    ({ store, drop } = await backend.open());
    p = (n) => (store.kind === 'postgres' ? `$${n}` : '?');
  });

  afterAll(async () => {
    await store.close();
    await drop();
  });

  describe('users', () => {
    it('logs a user in with the right password only, with the role scopes and channels', async () => {
      const access = new AccessService(store);
      const { id } = await access.createUser({
        username: 'olivia',
        role: 'operator',
        password: 'a long enough secret',
        channels: ['lab-results'],
      });
      const ok = await access.login('olivia', 'a long enough secret', '10.0.0.7');
      expect(ok).toEqual({
        ok: true,
        principal: {
          kind: 'user',
          id,
          name: 'olivia',
          scopes: [
            'channels:read',
            'channels:operate',
            'messages:read',
            'messages:replay',
            'reconciliations:read',
            'reconciliations:run',
          ],
          channels: ['lab-results'],
        },
      });
      expect(await access.login('olivia', 'a long enough secreT')).toEqual({ ok: false, reason: 'invalid' });
      expect(await access.login('nobody', 'a long enough secret')).toEqual({ ok: false, reason: 'invalid' });
      const [info] = (await access.listUsers()).filter((u) => u.username === 'olivia');
      expect(info).toMatchObject({ id, role: 'operator', state: 'active', lastLoginFrom: '10.0.0.7' });
      expect(JSON.stringify(await access.listUsers())).not.toContain('argon2');
      const rows = (await store.dataSource.query(`SELECT password_hash FROM app_user WHERE id = ${p(1)}`, [
        id,
      ])) as Array<{ password_hash: string }>;
      expect(rows[0]?.password_hash).toMatch(/^\$argon2id\$/);
    });

    it('refuses a short password, a taken username and an unknown role', async () => {
      const access = new AccessService(store);
      await expect(
        access.createUser({ username: 'eve', role: 'admin', password: 'short' }),
      ).rejects.toMatchObject({
        code: 'access.invalid',
      });
      await access.createUser({ username: 'victor', role: 'viewer', password: 'twelve chars!' });
      await expect(
        access.createUser({ username: 'victor', role: 'viewer', password: 'twelve chars!' }),
      ).rejects.toMatchObject({ code: 'access.conflict' });
      await expect(
        access.createUser({ username: 'root', role: 'root' as never, password: 'twelve chars!' }),
      ).rejects.toMatchObject({ code: 'access.invalid' });
    });

    it('locks after five failures for one minute, doubling, and answers locked without checking the password', async () => {
      const c = clock();
      const access = new AccessService(store, { now: c.now });
      await access.createUser({ username: 'larry', role: 'engineer', password: 'the right password' });
      for (let i = 0; i < 4; i++) {
        expect(await access.login('larry', 'a wrong password')).toEqual({ ok: false, reason: 'invalid' });
      }
      expect(await access.login('larry', 'a wrong password')).toEqual({
        ok: false,
        reason: 'locked',
        retryAfterMs: 60_000,
      });
      c.advance(30_000);
      expect(await access.login('larry', 'the right password')).toEqual({
        ok: false,
        reason: 'locked',
        retryAfterMs: 30_000,
      });
      c.advance(30_000);
      for (let i = 0; i < 4; i++) await access.login('larry', 'a wrong password');
      expect(await access.login('larry', 'a wrong password')).toMatchObject({
        reason: 'locked',
        retryAfterMs: 120_000,
      });
      c.advance(120_000);
      expect(await access.login('larry', 'the right password')).toMatchObject({ ok: true });
      for (let i = 0; i < 4; i++) await access.login('larry', 'a wrong password');
      expect(await access.login('larry', 'a wrong password')).toMatchObject({
        reason: 'locked',
        retryAfterMs: 60_000,
      });
    });

    it('locks unknown usernames the same way, and answers them as slowly as a wrong password', async () => {
      const c = clock();
      const access = new AccessService(store, { now: c.now });
      await access.createUser({ username: 'tina', role: 'viewer', password: 'the right password' });
      const time = async (fn: () => Promise<unknown>) => {
        const start = process.hrtime.bigint();
        await fn();
        return Number(process.hrtime.bigint() - start) / 1e6;
      };
      await access.login('ghost', 'warm up the dummy hash');
      const unknown: number[] = [];
      const wrong: number[] = [];
      for (let i = 0; i < 4; i++) {
        unknown.push(await time(() => access.login(`ghost${i}`, 'whatever it is')));
        wrong.push(await time(() => access.login('tina', 'whatever it is')));
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
      // Both pay one argon2 verification (~15 ms here); a skipped one would be under 2 ms.
      expect(median(unknown)).toBeGreaterThan(median(wrong) / 3);
      for (let i = 0; i < 4; i++) await access.login('ghost', 'whatever it is');
      expect(await access.login('ghost', 'whatever it is')).toMatchObject({
        reason: 'locked',
        retryAfterMs: 60_000,
      });
    });

    it('refuses a disabled user, and a new password works and lifts a lock', async () => {
      const c = clock();
      const access = new AccessService(store, { now: c.now });
      const { id } = await access.createUser({
        username: 'dora',
        role: 'viewer',
        password: 'the first password',
      });
      for (let i = 0; i < 5; i++) await access.login('dora', 'a wrong password');
      await access.setPassword(id, 'the second password');
      expect(await access.login('dora', 'the first password')).toEqual({ ok: false, reason: 'invalid' });
      expect(await access.login('dora', 'the second password')).toMatchObject({ ok: true });
      await access.disableUser(id);
      expect(await access.login('dora', 'the second password')).toEqual({ ok: false, reason: 'invalid' });
      expect((await access.getUser(id))?.state).toBe('disabled');
      await expect(access.disableUser('no-such-id')).rejects.toMatchObject({ code: 'access.not_found' });
    });
  });

  describe('roles', () => {
    it('gives a user another role, held from the next login; keeps an active administrator; leaves SSO roles to the provider', async () => {
      const access = new AccessService(store);
      const ada = await access.createUser({
        username: 'ada',
        role: 'admin',
        password: 'a long enough password',
      });
      const ben = await access.createUser({
        username: 'ben',
        role: 'viewer',
        password: 'a long enough password',
      });
      await access.setRole(ben.id, 'operator');
      expect((await access.getUser(ben.id))?.role).toBe('operator');
      const login = await access.login('ben', 'a long enough password');
      expect(login.ok && login.principal.scopes).toContain('messages:replay');

      // Ada is the only active administrator: she keeps the role and cannot be disabled.
      await expect(access.setRole(ada.id, 'viewer')).rejects.toMatchObject({
        code: 'access.conflict',
        message: expect.stringContaining('last active administrator'),
      });
      await expect(access.disableUser(ada.id)).rejects.toMatchObject({ code: 'access.conflict' });
      await access.setRole(ben.id, 'admin');
      await access.setRole(ada.id, 'engineer');
      expect((await access.getUser(ada.id))?.role).toBe('engineer');
      // A disabled administrator does not count.
      await access.setRole(ada.id, 'admin');
      await access.disableUser(ada.id);
      await expect(access.setRole(ben.id, 'viewer')).rejects.toMatchObject({ code: 'access.conflict' });
      await access.enableUser(ada.id);

      await expect(access.setRole(ben.id, 'root' as never)).rejects.toMatchObject({ code: 'access.invalid' });
      await expect(access.setRole('no-such-id', 'viewer')).rejects.toMatchObject({
        code: 'access.not_found',
      });
      await access.ssoUser({ username: 'sso-carol', role: 'viewer' });
      const carol = (await access.listUsers()).find((u) => u.username === 'sso-carol');
      await expect(access.setRole(carol!.id, 'admin')).rejects.toMatchObject({
        code: 'access.conflict',
        message: expect.stringContaining('OpenID provider'),
      });
    });
  });

  describe('API keys', () => {
    it('shows the key once, stores its sha256, and authenticates it with its scopes', async () => {
      const c = clock();
      const access = new AccessService(store, { now: c.now });
      const created = await access.createKey({
        name: 'lab-ci',
        scopes: ['channels:read', 'messages:read'],
        channels: ['lab-results'],
        expiresAt: new Date('2026-06-01T00:00:00Z'),
        createdBy: 'cli',
      });
      expect(created.secret).toMatch(new RegExp(`^snw_${created.prefix}_[0-9a-f]{64}$`));
      const rows = (await store.dataSource.query(`SELECT * FROM api_key WHERE id = ${p(1)}`, [
        created.id,
      ])) as Array<Record<string, unknown>>;
      expect(JSON.stringify(rows)).not.toContain(created.secret.slice(13));
      expect(rows[0]?.secret_hash).toBe(hashKey(created.secret));
      expect(await access.authenticateKey(created.secret, '10.0.0.9')).toEqual({
        kind: 'key',
        id: created.id,
        name: 'lab-ci',
        scopes: ['channels:read', 'messages:read'],
        channels: ['lab-results'],
        via: created.prefix,
      });
      const [info] = (await access.listKeys()).filter((k) => k.id === created.id);
      expect(info).toEqual({
        id: created.id,
        name: 'lab-ci',
        prefix: created.prefix,
        scopes: ['channels:read', 'messages:read'],
        channels: ['lab-results'],
        createdAt: c.now(),
        createdBy: 'cli',
        expiresAt: new Date('2026-06-01T00:00:00Z'),
        lastUsedAt: c.now(),
        lastUsedFrom: '10.0.0.9',
        state: 'active',
      });
      expect(JSON.stringify(await access.listKeys())).not.toContain(created.secret.slice(13));
    });

    it('refuses malformed, unknown and wrong keys', async () => {
      const access = new AccessService(store);
      const { secret, prefix } = await access.createKey({ name: 'k', scopes: ['messages:read'] });
      expect(await access.authenticateKey('')).toBeUndefined();
      expect(await access.authenticateKey('not a key')).toBeUndefined();
      expect(await access.authenticateKey(secret.slice(0, -1))).toBeUndefined();
      expect(
        await access.authenticateKey(`${secret.slice(0, -1)}${secret.endsWith('a') ? 'b' : 'a'}`),
      ).toBeUndefined();
      expect(await access.authenticateKey(secret.replace(prefix, 'zz' + prefix.slice(2)))).toBeUndefined();
    });

    it('stops a paused, a revoked and an expired key on the next call', async () => {
      const c = clock();
      const access = new AccessService(store, { now: c.now });
      const { id, secret } = await access.createKey({
        name: 'k2',
        scopes: ['admin'],
        expiresAt: new Date(c.now().getTime() + 3_600_000),
      });
      expect(await access.authenticateKey(secret)).toBeDefined();
      await access.pauseKey(id);
      expect(await access.authenticateKey(secret)).toBeUndefined();
      await access.resumeKey(id);
      expect(await access.authenticateKey(secret)).toBeDefined();
      c.advance(3_600_000);
      expect(await access.authenticateKey(secret)).toBeUndefined();
      expect((await access.listKeys()).find((k) => k.id === id)?.state).toBe('expired');
      const other = await access.createKey({ name: 'k3', scopes: ['admin'] });
      await access.revokeKey(other.id);
      expect(await access.authenticateKey(other.secret)).toBeUndefined();
      await expect(access.resumeKey(other.id)).rejects.toMatchObject({ code: 'access.conflict' });
      expect((await access.listKeys()).find((k) => k.id === other.id)?.state).toBe('revoked');
      await expect(access.pauseKey('no-such-id')).rejects.toMatchObject({ code: 'access.not_found' });
      expect(await access.findKeyId(`snw_${other.prefix}`)).toBe(other.id);
      expect(await access.findKeyId(other.prefix)).toBe(other.id);
      expect(await access.findKeyId(other.id)).toBe(other.id);
    });

    it('writes the last use at most once a minute per key, unless the address changes', async () => {
      const c = clock();
      const access = new AccessService(store, { now: c.now });
      const { id, secret } = await access.createKey({ name: 'k4', scopes: ['messages:read'] });
      const lastUsed = async () => (await access.listKeys()).find((k) => k.id === id);
      const t0 = c.now();
      await access.authenticateKey(secret, '10.0.0.1');
      c.advance(59_000);
      await access.authenticateKey(secret, '10.0.0.1');
      expect(await lastUsed()).toMatchObject({ lastUsedAt: t0, lastUsedFrom: '10.0.0.1' });
      c.advance(1_000);
      await access.authenticateKey(secret, '10.0.0.1');
      expect((await lastUsed())?.lastUsedAt).toEqual(c.now());
      c.advance(1_000);
      await access.authenticateKey(secret, '10.0.0.2');
      expect(await lastUsed()).toMatchObject({ lastUsedAt: c.now(), lastUsedFrom: '10.0.0.2' });
    });
  });
});
