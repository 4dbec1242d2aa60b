import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { withTestSchema } from '@sinew/test-support/postgres';
import { AuditLog, GENESIS_HASH, type AuditInput } from './audit-log';

jest.setTimeout(60_000);

interface Backend {
  name: string;
  /** A fresh ledger; `another` opens a second store (its own connections) on the same database. */
  open(): Promise<{ store: TypeOrmStore; drop: () => Promise<void>; another: () => Promise<TypeOrmStore> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sinew-audit-'));
      return {
        store: await openStore({ dataDir: dir }),
        drop: async () => rmSync(dir, { recursive: true, force: true }),
        another: () => openStore({ dataDir: dir }),
      };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const schema = await withTestSchema();
      return {
        store: await openStore({ databaseUrl: schema.url, schema: schema.schema }),
        drop: () => schema.drop(),
        another: () => openStore({ databaseUrl: schema.url, schema: schema.schema }),
      };
    },
  },
];

const read = (i: number): AuditInput => ({
  actor: i % 2 ? 'alice' : 'lab-ci',
  actorKind: i % 2 ? 'user' : 'key',
  ...(i % 2 ? {} : { via: 'ab12cd34' }),
  action: 'GET /api/v1/messages/{id}',
  objectIds: [`msg-${i}`],
  from: '10.0.0.5',
  outcome: '200',
  contentRead: true,
});

describe.each(backends)('audit log on $name', (backend) => {
  const opened: Array<{ store: TypeOrmStore; drop: () => Promise<void>; others: TypeOrmStore[] }> = [];
  async function fresh(n: number, options: { now?: () => Date; recordFilterValues?: boolean } = {}) {
    const { store, drop, another: open } = await backend.open();
    const o = { store, drop, others: [] as TypeOrmStore[] };
    opened.push(o);
    const log = new AuditLog(o.store, options);
    for (let i = 1; i <= n; i++) await log.append(read(i));
    const sql = (text: string) => {
      let k = 0;
      return o.store.dataSource.query(
        o.store.kind === 'postgres' ? text.replace(/\?/g, () => `$${++k}`) : text,
      );
    };
    const another = async () => {
      const s = await open();
      o.others.push(s);
      return s;
    };
    return { store: o.store, log, sql, another };
  }

  afterAll(async () => {
    for (const o of opened) {
      for (const s of o.others) await s.close();
      await o.store.close();
      await o.drop();
    }
  });

  it('verifies an intact chain, including one appended to concurrently', async () => {
    const { log } = await fresh(0);
    expect(await log.verify()).toEqual({ ok: true, rows: 0, head: { seq: 0, hash: GENESIS_HASH } });
    await Promise.all(Array.from({ length: 30 }, (_, i) => log.append(read(i))));
    const [whole] = await Promise.all([log.verify(), log.append(read(99)), log.append(read(100))]);
    expect(whole).toMatchObject({ ok: true });
    expect(await log.verify()).toMatchObject({ ok: true, rows: 32 });
  });

  it('keeps one chain when several processes append at once (each with its own connections)', async () => {
    const { log, another } = await fresh(1);
    const logs = [log, new AuditLog(await another()), new AuditLog(await another())];
    await Promise.all(
      logs.flatMap((l, i) => Array.from({ length: 25 }, (_, j) => l.append(read(i * 100 + j)))),
    );
    expect(await log.verify()).toEqual({ ok: true, rows: 76, head: expect.objectContaining({ seq: 76 }) });
  });

  it('names an edited row', async () => {
    const { log, sql } = await fresh(5);
    await sql("UPDATE audit_event SET actor = 'mallory' WHERE seq = 3");
    expect(await log.verify()).toEqual({
      ok: false,
      rows: 2,
      firstBroken: { seq: 3, reason: 'its fields do not match its hash: edited' },
    });
  });

  it('names an edit of content_read and of the time', async () => {
    const a = await fresh(3);
    await a.sql('UPDATE audit_event SET content_read = 0 WHERE seq = 2');
    expect(await a.log.verify()).toMatchObject({ ok: false, firstBroken: { seq: 2 } });
    const b = await fresh(3);
    await b.sql(
      b.store.kind === 'postgres'
        ? "UPDATE audit_event SET at = at + interval '1 second' WHERE seq = 3"
        : 'UPDATE audit_event SET at = at + 1000 WHERE seq = 3',
    );
    expect(await b.log.verify()).toMatchObject({ ok: false, firstBroken: { seq: 3 } });
  });

  it('names a removed row, the newest one included', async () => {
    const a = await fresh(5);
    await a.sql('DELETE FROM audit_event WHERE seq = 2');
    expect(await a.log.verify()).toEqual({
      ok: false,
      rows: 1,
      firstBroken: { seq: 2, reason: 'row 2 is missing: removed (the next row is 3)' },
    });
    const b = await fresh(5);
    await b.sql('DELETE FROM audit_event WHERE seq = 5');
    expect(await b.log.verify()).toMatchObject({ ok: false, rows: 4, firstBroken: { seq: 5 } });
  });

  it('names an inserted row: in the middle (rows renumbered), after the head, before the start', async () => {
    const a = await fresh(4);
    // Make room after row 2 and insert a copy of row 2 there, as someone editing by hand would.
    await a.sql('UPDATE audit_event SET seq = seq + 100 WHERE seq > 2');
    await a.sql('UPDATE audit_event SET seq = seq - 99 WHERE seq > 100');
    await a.sql(
      'INSERT INTO audit_event (seq, at, actor, actor_kind, via, action, object_ids, filter, remote_address, outcome, content_read, prev_hash, hash) ' +
        'SELECT 3, at, actor, actor_kind, via, action, object_ids, filter, remote_address, outcome, content_read, prev_hash, hash FROM audit_event WHERE seq = 2',
    );
    expect(await a.log.verify()).toMatchObject({ ok: false, rows: 2, firstBroken: { seq: 3 } });

    const b = await fresh(3);
    await b.sql(
      'INSERT INTO audit_event (seq, at, actor, actor_kind, action, outcome, content_read, prev_hash, hash) ' +
        `SELECT 4, at, 'mallory', actor_kind, action, outcome, 0, hash, hash FROM audit_event WHERE seq = 3`,
    );
    expect(await b.log.verify()).toMatchObject({ ok: false, rows: 3, firstBroken: { seq: 4 } });

    const c = await fresh(2);
    await c.sql(
      'INSERT INTO audit_event (seq, at, actor, actor_kind, action, outcome, content_read, prev_hash, hash) ' +
        `SELECT 0, at, 'mallory', actor_kind, action, outcome, 0, prev_hash, hash FROM audit_event WHERE seq = 1`,
    );
    expect(await c.log.verify()).toMatchObject({ ok: false, rows: 0, firstBroken: { seq: 0 } });
  });

  it('records filter names, not values that may be PHI, unless asked to', async () => {
    const { log } = await fresh(0);
    await log.append({
      actor: 'alice',
      actorKind: 'user',
      action: 'GET /api/v1/messages',
      filter: {
        key: 'mrn:12345',
        status: 'dead_lettered',
        channel: 'lab',
        control_id: 'CTL991',
        sender: 'LAB',
      },
      outcome: '200',
    });
    const [item] = (await log.search({ limit: 1 })).items;
    expect(item?.filter).toEqual({
      channel: 'lab',
      control_id: '*',
      key: 'mrn',
      sender: '*',
      status: 'dead_lettered',
    });
    expect(JSON.stringify(item)).not.toContain('12345');

    const opted = await fresh(0, { recordFilterValues: true });
    await opted.log.append({
      actor: 'alice',
      actorKind: 'user',
      action: 'GET /api/v1/messages',
      filter: { key: 'mrn:12345' },
      outcome: '200',
    });
    expect((await opted.log.search()).items[0]?.filter).toEqual({ key: 'mrn:12345' });
  });

  it('searches newest first by pages, by actor, action and time', async () => {
    let t = new Date('2026-03-01T00:00:00.000Z').getTime();
    const { log } = await fresh(0, {
      now: () => {
        t += 60_000;
        return new Date(t);
      },
    });
    for (let i = 1; i <= 7; i++) await log.append(read(i));
    const first = await log.search({ limit: 3 });
    expect(first.items.map((r) => r.seq)).toEqual([7, 6, 5]);
    expect(first.items[0]).toMatchObject({
      actor: 'alice',
      actorKind: 'user',
      action: 'GET /api/v1/messages/{id}',
      objectIds: ['msg-7'],
      from: '10.0.0.5',
      outcome: '200',
      contentRead: true,
      at: new Date('2026-03-01T00:07:00.000Z'),
    });
    const second = await log.search({ limit: 3, cursor: first.nextCursor });
    expect(second.items.map((r) => r.seq)).toEqual([4, 3, 2]);
    const third = await log.search({ limit: 3, cursor: second.nextCursor });
    expect(third).toEqual({ items: [expect.objectContaining({ seq: 1 })] });
    expect((await log.search({ actor: 'lab-ci' })).items.map((r) => [r.seq, r.via])).toEqual([
      [6, 'ab12cd34'],
      [4, 'ab12cd34'],
      [2, 'ab12cd34'],
    ]);
    expect(
      (
        await log.search({ since: new Date('2026-03-01T00:03:00Z'), until: new Date('2026-03-01T00:05:00Z') })
      ).items.map((r) => r.seq),
    ).toEqual([4, 3]);
    await expect(log.search({ cursor: 'bogus' })).rejects.toMatchObject({ code: 'access.invalid' });
  });

  it('prunes old rows and still verifies; refuses to prune a broken chain', async () => {
    let t = new Date('2026-03-01T00:00:00.000Z').getTime();
    const { log, sql } = await fresh(0, {
      now: () => {
        t += 86_400_000;
        return new Date(t);
      },
    });
    for (let i = 1; i <= 6; i++) await log.append(read(i));
    expect(await log.prune(new Date('2026-03-04T12:00:00Z'))).toEqual({ pruned: 3, baseSeq: 3 });
    expect(await log.verify()).toMatchObject({ ok: true, rows: 3 });
    await log.append(read(7));
    expect(await log.verify()).toMatchObject({ ok: true, rows: 4 });
    await sql("UPDATE audit_event SET outcome = '403' WHERE seq = 5");
    await expect(log.prune(new Date('2026-03-06T12:00:00Z'))).rejects.toThrow(
      /broken at row 5.*nothing pruned/,
    );
    expect(await log.verify()).toMatchObject({ ok: false, firstBroken: { seq: 5 } });
  });
});
