import { createHash, randomUUID } from 'node:crypto';
import type { NewAuditEvent, UnsealedAuditEvent } from './access-store';
import type { Store } from './store';

/**
 * The behaviour of the access repository (`store.access`) on every backend, as jest tests:
 * a backend's integration spec calls it with a factory that opens a fresh, empty store.
 */
export function describeAccessBehaviour(openEmptyStore: () => Promise<Store>): void {
  const opened: Store[] = [];
  const fresh = async () => {
    const s = await openEmptyStore();
    opened.push(s);
    return s;
  };
  let store: Store;

  beforeAll(async () => {
    store = await fresh();
  });

  afterAll(async () => {
    for (const s of opened) await s.close();
  });

  const name = () => `u${randomUUID().slice(0, 8)}`;
  const t = (iso: string) => new Date(iso);
  const seal = (e: UnsealedAuditEvent) =>
    createHash('sha256').update(`${e.prevHash}|${e.seq}|${e.actor}|${e.action}`).digest('hex');
  const event = (overrides: Partial<NewAuditEvent> = {}): NewAuditEvent => ({
    at: t('2026-01-01T00:00:00.123Z'),
    actor: 'alice',
    actorKind: 'user',
    action: 'GET /api/v1/messages/{id}',
    outcome: '200',
    contentRead: true,
    ...overrides,
  });

  describe('access: users', () => {
    it('stores a user and reads it back by id and by name; a taken username conflicts', async () => {
      const username = name();
      const id = randomUUID();
      const created = await store.access.insertUser({
        id,
        username,
        role: 'operator',
        passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
        channels: ['lab', 'adt'],
        extraScopes: ['audit:read'],
        createdAt: t('2026-01-01T10:00:00.000Z'),
      });
      expect(created).toEqual({
        id,
        username,
        role: 'operator',
        passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
        channels: ['lab', 'adt'],
        extraScopes: ['audit:read'],
        state: 'active',
        failedLogins: 0,
        lockouts: 0,
        createdAt: t('2026-01-01T10:00:00.000Z'),
        updatedAt: t('2026-01-01T10:00:00.000Z'),
      });
      expect(await store.access.getUser(id)).toEqual(created);
      expect(await store.access.getUserByName(username)).toEqual(created);
      await expect(
        store.access.insertUser({ ...created, id: randomUUID(), createdAt: new Date() }),
      ).rejects.toMatchObject({ code: 'store.conflict' });
      expect(await store.access.getUserByName('nobody-' + username)).toBeUndefined();
    });

    it('refuses a role outside the four', async () => {
      await expect(
        store.access.insertUser({
          id: randomUUID(),
          username: name(),
          role: 'root',
          passwordHash: 'x',
          extraScopes: [],
          createdAt: new Date(),
        }),
      ).rejects.toThrow(/check/i);
    });

    it('changes fields, and counts every one of concurrent failed logins', async () => {
      const id = randomUUID();
      await store.access.insertUser({
        id,
        username: name(),
        role: 'viewer',
        passwordHash: 'h1',
        extraScopes: [],
        createdAt: new Date(),
      });
      expect(
        await store.access.updateUser(
          id,
          { passwordHash: 'h2', state: 'disabled', channels: null },
          t('2026-02-01T00:00:00Z'),
        ),
      ).toBe(true);
      expect(await store.access.updateUser(randomUUID(), { state: 'disabled' }, new Date())).toBe(false);
      await Promise.all(
        Array.from({ length: 20 }, () =>
          store.access.updateLoginState(id, (s) => ({ ...s, failedLogins: s.failedLogins + 1 })),
        ),
      );
      const until = t('2026-02-01T00:05:00Z');
      await store.access.updateLoginState(id, (s) => ({ ...s, lockouts: 3, lockedUntil: until }));
      expect(await store.access.getUser(id)).toMatchObject({
        passwordHash: 'h2',
        state: 'disabled',
        failedLogins: 20,
        lockouts: 3,
        lockedUntil: until,
        updatedAt: t('2026-02-01T00:00:00Z'),
      });
      expect(await store.access.updateLoginState(randomUUID(), (s) => s)).toBeUndefined();
    });
  });

  describe('access: API keys', () => {
    it('stores a key by a unique prefix; revoked is final; last use is recorded', async () => {
      const s = await fresh();
      const id = randomUUID();
      const prefix = randomUUID().slice(0, 8);
      const key = {
        id,
        prefix,
        name: 'ci',
        secretHash: 'a'.repeat(64),
        scopes: ['channels:read'],
        channels: ['lab'],
        createdAt: t('2026-01-01T00:00:00.000Z'),
        createdBy: 'cli',
        expiresAt: t('2026-04-01T00:00:00.000Z'),
      };
      expect(await s.access.insertKey(key)).toEqual({ ...key, state: 'active' });
      await expect(s.access.insertKey({ ...key, id: randomUUID() })).rejects.toMatchObject({
        code: 'store.conflict',
      });
      expect(await s.access.getKeyByPrefix(prefix)).toMatchObject({ id, state: 'active' });
      expect((await s.access.setKeyState(id, 'paused', new Date()))?.state).toBe('paused');
      expect((await s.access.setKeyState(id, 'active', new Date()))?.state).toBe('active');
      const revokedAt = t('2026-01-02T00:00:00.000Z');
      expect(await s.access.setKeyState(id, 'revoked', revokedAt)).toMatchObject({
        state: 'revoked',
        revokedAt,
      });
      expect(await s.access.setKeyState(id, 'active', new Date())).toMatchObject({
        state: 'revoked',
        revokedAt,
      });
      expect(await s.access.setKeyState(randomUUID(), 'paused', new Date())).toBeUndefined();
      await s.access.touchKey(id, t('2026-01-03T00:00:00.000Z'), '10.1.2.3');
      expect(await s.access.getKey(id)).toMatchObject({
        lastUsedAt: t('2026-01-03T00:00:00.000Z'),
        lastUsedFrom: '10.1.2.3',
      });
      const second = await s.access.insertKey({
        ...key,
        id: randomUUID(),
        prefix: 'zzzzzzzz',
        createdAt: new Date(),
      });
      expect((await s.access.listKeys()).map((k) => k.id)).toEqual([second.id, id]);
    });
  });

  describe('access: OAuth clients', () => {
    it('stores a client with a secret hash or a public key; revoked is final; last use is recorded', async () => {
      const s = await fresh();
      const id = randomUUID();
      const client = {
        id,
        name: 'lab-robot',
        scopes: ['messages:read'],
        channels: ['lab'],
        secretHash: 'b'.repeat(64),
        createdAt: t('2026-01-01T00:00:00.000Z'),
        createdBy: 'cli',
      };
      expect(await s.access.insertClient(client)).toEqual({ ...client, state: 'active' });
      await expect(s.access.insertClient(client)).rejects.toMatchObject({ code: 'store.conflict' });
      await expect(
        s.access.insertClient({ id: randomUUID(), name: 'x', scopes: [], createdAt: new Date() }),
      ).rejects.toMatchObject({ code: 'store.invalid' });
      const keyed = await s.access.insertClient({
        id: randomUUID(),
        name: 'signer',
        scopes: ['channels:read'],
        publicJwk: '{"kty":"EC"}',
        createdAt: t('2026-01-02T00:00:00.000Z'),
      });
      expect(keyed).toMatchObject({ publicJwk: '{"kty":"EC"}', state: 'active' });
      expect(keyed.secretHash).toBeUndefined();
      expect((await s.access.listClients()).map((c) => c.id)).toEqual([keyed.id, id]);
      expect((await s.access.setClientState(id, 'paused', new Date()))?.state).toBe('paused');
      const revokedAt = t('2026-01-03T00:00:00.000Z');
      expect(await s.access.setClientState(id, 'revoked', revokedAt)).toMatchObject({
        state: 'revoked',
        revokedAt,
      });
      expect((await s.access.setClientState(id, 'active', new Date()))?.state).toBe('revoked');
      expect(await s.access.setClientState(randomUUID(), 'paused', new Date())).toBeUndefined();
      await s.access.touchClient(keyed.id, t('2026-01-04T00:00:00.000Z'), '10.0.0.9');
      expect(await s.access.getClient(keyed.id)).toMatchObject({
        lastUsedAt: t('2026-01-04T00:00:00.000Z'),
        lastUsedFrom: '10.0.0.9',
      });
    });

    it('keeps one token-signing key: the first stored wins', async () => {
      const s = await fresh();
      const first = { kid: 'k1', privateJwk: '{"d":"1"}', createdAt: t('2026-01-01T00:00:00.000Z') };
      expect(await s.access.signingKey(first)).toEqual(first);
      expect(await s.access.signingKey({ ...first, kid: 'k2', privateJwk: '{"d":"2"}' })).toEqual(first);
    });

    it('accepts a client assertion id once until it expires', async () => {
      const s = await fresh();
      const now = t('2026-01-01T00:00:00.000Z');
      const later = t('2026-01-01T00:05:00.000Z');
      expect(await s.access.useAssertion('c:j1', later, now)).toBe(true);
      expect(await s.access.useAssertion('c:j1', later, now)).toBe(false);
      expect(await s.access.useAssertion('c:j2', later, now)).toBe(true);
      // Once expired it is forgotten.
      expect(
        await s.access.useAssertion('c:j1', t('2026-01-01T00:10:00.000Z'), t('2026-01-01T00:06:00.000Z')),
      ).toBe(true);
    });
  });

  describe('access: the audit chain', () => {
    it('appends concurrent events one after another: seq 1, 2, 3 … each sealed on the previous hash', async () => {
      const s = await fresh();
      expect(await s.access.auditChain()).toEqual({
        baseSeq: 0,
        baseHash: '0'.repeat(64),
        headSeq: 0,
        headHash: '0'.repeat(64),
      });
      const appended = await Promise.all(
        Array.from({ length: 40 }, (_, i) => s.access.appendAudit(event({ actor: `a${i}` }), seal)),
      );
      const rows = await s.access.scanAudit(0, 1000);
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      let prev = '0'.repeat(64);
      for (const r of rows) {
        expect(r.prevHash).toBe(prev);
        expect(r.hash).toBe(seal({ ...event({ actor: r.actor }), seq: r.seq, prevHash: r.prevHash }));
        prev = r.hash;
      }
      expect(await s.access.auditChain()).toMatchObject({ headSeq: 40, headHash: prev });
      expect(rows.find((r) => r.actor === 'a7')).toEqual(appended[7]);
      expect(appended[7]).toEqual({
        seq: appended[7]?.seq,
        at: t('2026-01-01T00:00:00.123Z'),
        actor: 'a7',
        actorKind: 'user',
        action: 'GET /api/v1/messages/{id}',
        outcome: '200',
        contentRead: 1,
        prevHash: appended[7]?.prevHash,
        hash: appended[7]?.hash,
      });
    });

    it('searches newest first by actor, action, time and seq', async () => {
      const s = await fresh();
      for (let i = 1; i <= 6; i++) {
        await s.access.appendAudit(
          event({
            actor: i % 2 ? 'alice' : 'ci',
            actorKind: i % 2 ? 'user' : 'key',
            via: i % 2 ? undefined : 'abcd1234',
            action: i <= 3 ? 'GET /api/v1/messages' : 'POST /api/v1/replay',
            at: t(`2026-01-0${i}T00:00:00.000Z`),
            objectIds: '["m1"]',
            filter: '{"key":"mrn"}',
            remoteAddress: '127.0.0.1',
          }),
          seal,
        );
      }
      const seqs = async (f: Parameters<typeof s.access.searchAudit>[0]) =>
        (await s.access.searchAudit(f)).map((r) => r.seq);
      expect(await seqs({ limit: 10 })).toEqual([6, 5, 4, 3, 2, 1]);
      expect(await seqs({ actor: 'alice', limit: 10 })).toEqual([5, 3, 1]);
      expect(await seqs({ action: 'POST /api/v1/replay', actor: 'ci', limit: 10 })).toEqual([6, 4]);
      expect(
        await seqs({ since: t('2026-01-02T00:00:00Z'), until: t('2026-01-05T00:00:00Z'), limit: 10 }),
      ).toEqual([4, 3, 2]);
      expect(await seqs({ beforeSeq: 4, limit: 2 })).toEqual([3, 2]);
      expect((await s.access.searchAudit({ actor: 'ci', limit: 1 }))[0]).toMatchObject({
        via: 'abcd1234',
        objectIds: '["m1"]',
        filter: '{"key":"mrn"}',
        remoteAddress: '127.0.0.1',
      });
    });

    it('prunes the events before a time and moves the chain start to the last one pruned', async () => {
      const s = await fresh();
      for (let i = 1; i <= 5; i++) {
        await s.access.appendAudit(event({ at: t(`2026-01-0${i}T00:00:00.000Z`) }), seal);
      }
      const before = await s.access.scanAudit(0, 10);
      expect(await s.access.pruneAudit(t('2026-01-01T00:00:00.000Z'))).toEqual({
        pruned: 0,
        baseSeq: 0,
        baseHash: '0'.repeat(64),
      });
      expect(await s.access.pruneAudit(t('2026-01-03T12:00:00.000Z'))).toEqual({
        pruned: 3,
        baseSeq: 3,
        baseHash: before[2]?.hash,
      });
      expect((await s.access.scanAudit(-1, 10)).map((r) => r.seq)).toEqual([4, 5]);
      expect(await s.access.auditChain()).toMatchObject({
        baseSeq: 3,
        baseHash: before[2]?.hash,
        headSeq: 5,
      });
      const next = await s.access.appendAudit(event(), seal);
      expect(next).toMatchObject({ seq: 6, prevHash: before[4]?.hash });
      expect(await s.access.pruneAudit(t('2027-01-01T00:00:00.000Z'))).toMatchObject({
        pruned: 3,
        baseSeq: 6,
      });
      expect(await s.access.scanAudit(-1, 10)).toEqual([]);
    });
  });
}
