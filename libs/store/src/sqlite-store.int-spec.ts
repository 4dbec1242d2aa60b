import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { SqliteError } from 'better-sqlite3';
import { waitFor } from '@sinew/test-support/wait';
import { SQLITE_MIGRATIONS } from './migrations';
import { Deployments1796600000000 as SqliteDeployments } from './migrations/sqlite/1796600000000-deployments';
import { openStore, SQLITE_FILE_NAME } from './open-store';
import { describeAccessBehaviour } from './access-behaviour';
import { describeStoreBehaviour } from './store-behaviour';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sinew-store-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('SQLite store', () => {
  it('copies the write-ahead log into the database file from its own thread', async () => {
    const dataDir = tempDir();
    const store = await openStore({ dataDir });
    try {
      const file = join(dataDir, SQLITE_FILE_NAME);
      const before = statSync(file).size;
      const body = Buffer.alloc(64 * 1024, 0x41);
      for (let i = 0; i < 16; i++) {
        await store.insertMessages([
          {
            id: randomUUID(),
            channelId: 'wal',
            receivedAt: new Date(),
            source: 'mllp',
            sender: 'A|B',
            contentType: 'hl7v2',
            raw: body,
            keys: {},
          },
        ]);
      }
      // 1 MB of log, far below SQLite's own checkpoint threshold: only the thread copies it.
      await waitFor('1 MB more in the file', () => statSync(file).size >= before + 1_000_000, 5_000, 100);
      expect(statSync(file).size).toBeGreaterThan(before + 1_000_000);
    } finally {
      await store.close();
    }
  });

  describeStoreBehaviour(() => openStore({ dataDir: tempDir() }));
  describeAccessBehaviour(() => openStore({ dataDir: tempDir() }));

  it('creates the data directory and sinew.db in it, in WAL mode with synchronous=NORMAL', async () => {
    const dataDir = join(tempDir(), 'nested', 'data');
    const store = await openStore({ dataDir });
    try {
      expect(existsSync(join(dataDir, SQLITE_FILE_NAME))).toBe(true);
      expect(await store.dataSource.query('PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
      expect(await store.dataSource.query('PRAGMA synchronous')).toEqual([{ synchronous: 1 }]);
      expect(await store.dataSource.query('PRAGMA busy_timeout')).toEqual([{ timeout: 5000 }]);
    } finally {
      await store.close();
    }
  });

  it('keeps the ledger owner-only whatever the umask: folders 0700, sinew.db, -wal and -shm 0600', async () => {
    const parent = tempDir();
    const dataDir = join(parent, 'nested', 'data');
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
    const umask = process.umask(0);
    try {
      const store = await openStore({ dataDir });
      try {
        await store.insertMessages([
          {
            id: randomUUID(),
            channelId: 'private',
            receivedAt: new Date(),
            source: 'mllp',
            sender: 'A|B',
            contentType: 'hl7v2',
            raw: Buffer.from('MSH|^~\\&|A|B\rPID|1||MRN-1||DOE^JANE\r'),
            keys: { mrn: 'MRN-1' },
          },
        ]);
        expect({ nested: mode(join(parent, 'nested')), data: mode(dataDir) }).toEqual({
          nested: '700',
          data: '700',
        });
        const files = ['sinew.db', 'sinew.db-wal', 'sinew.db-shm'];
        expect(files.map((f) => [f, mode(join(dataDir, f))])).toEqual(files.map((f) => [f, '600']));
      } finally {
        await store.close();
      }

      // A ledger left readable by others (an older release, a copy) is tightened when opened.
      chmodSync(join(dataDir, SQLITE_FILE_NAME), 0o644);
      const again = await openStore({ dataDir });
      try {
        expect(mode(join(dataDir, SQLITE_FILE_NAME))).toBe('600');
      } finally {
        await again.close();
      }
    } finally {
      process.umask(umask);
    }
  });

  it('sets an existing data folder and ledger open to other users to 0700 and 0600, and warns naming each', async () => {
    const dataDir = tempDir();
    const first = await openStore({ dataDir });
    await first.close();
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, SQLITE_FILE_NAME), 0o644);
    const warnings: Array<{ obj: object; msg?: string }> = [];
    const store = await openStore({ dataDir, logger: { warn: (obj, msg) => warnings.push({ obj, msg }) } });
    try {
      expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
      expect((statSync(join(dataDir, SQLITE_FILE_NAME)).mode & 0o777).toString(8)).toBe('600');
      expect(warnings).toEqual([
        {
          obj: { path: dataDir, mode: '0755', now: '0700' },
          msg: 'the ledger folder was open to other users (mode 0755): set to 0700',
        },
        {
          obj: { path: join(dataDir, SQLITE_FILE_NAME), mode: '0644', now: '0600' },
          msg: 'a ledger file was open to other users (mode 0644): set to 0600',
        },
      ]);
    } finally {
      await store.close();
    }
    // Owner-only already: nothing to say.
    warnings.length = 0;
    const again = await openStore({ dataDir, logger: { warn: (obj, msg) => warnings.push({ obj, msg }) } });
    await again.close();
    expect(warnings).toEqual([]);
  });

  it('uses synchronous=FULL when asked', async () => {
    const store = await openStore({ dataDir: tempDir(), sqliteSynchronous: 'full' });
    try {
      expect(await store.dataSource.query('PRAGMA synchronous')).toEqual([{ synchronous: 2 }]);
    } finally {
      await store.close();
    }
  });

  it('creates the schema by its committed migrations, matching the entity schemas exactly', async () => {
    const store = await openStore({ dataDir: tempDir() });
    try {
      const pending = await store.dataSource.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
      const tables = (await store.dataSource.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )) as Array<{ name: string }>;
      expect(tables.map((t) => t.name)).toEqual([
        'api_key',
        'app_session',
        'app_user',
        'audit_chain',
        'audit_event',
        'channel_deployment',
        'channel_pause',
        'delivery',
        'delivery_attempt',
        'hub_change',
        'hub_consent',
        'hub_index',
        'hub_resource',
        'hub_version',
        'ledger_migrations',
        'message',
        'message_content',
        'message_key',
        'message_link',
        'message_outcome',
        'oauth_assertion',
        'oauth_client',
        'oauth_signing_key',
        'reconcile_discrepancy',
        'reconcile_flag',
        'reconcile_run',
        'reconcile_schedule',
        'source_cursor',
      ]);
    } finally {
      await store.close();
    }
  });

  it('keeps messages across a reopen and does not run a migration twice', async () => {
    const dataDir = tempDir();
    const id = randomUUID();
    const first = await openStore({ dataDir });
    await first.insertMessages([
      {
        id,
        channelId: 'c',
        receivedAt: new Date(),
        source: 'mllp',
        sender: 'A|B',
        contentType: 'hl7v2',
        raw: Buffer.from('MSH|^~\\&|\r'),
        keys: { mrn: '1' },
      },
    ]);
    await first.close();
    const second = await openStore({ dataDir });
    try {
      expect((await second.getMessage(id))?.keys).toEqual({ mrn: '1' });
      expect(await second.dataSource.query('SELECT count(*) AS n FROM ledger_migrations')).toEqual([
        { n: SQLITE_MIGRATIONS.length },
      ]);
    } finally {
      await second.close();
    }
  });

  it('upgrades a ledger of the first schema in place: messages kept, without a channel version', async () => {
    const dataDir = tempDir();
    const id = randomUUID();
    const first = await openStore({ dataDir });
    await first.insertMessages([
      {
        id,
        channelId: 'c',
        receivedAt: new Date(),
        source: 'mllp',
        sender: 'A|B',
        contentType: 'hl7v2',
        raw: Buffer.from('MSH|^~\\&|\r'),
        keys: { mrn: '1' },
      },
    ]);
    // Back to the first schema, as a ledger written before the deployment history.
    const runner = first.dataSource.createQueryRunner();
    await new SqliteDeployments().down(runner);
    await runner.release();
    await first.dataSource.query('DELETE FROM ledger_migrations WHERE name = ?', [
      new SqliteDeployments().name,
    ]);
    await first.close();

    const second = await openStore({ dataDir });
    try {
      expect(await second.getMessage(id)).toMatchObject({ id, keys: { mrn: '1' }, status: 'received' });
      expect(await second.getMessage(id)).not.toHaveProperty('channelVersion');
      expect((await second.dataSource.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
      await second.completePipeline(id, { status: 'errored', issues: [], deliveries: [], channelVersion: 1 });
      expect(await second.reprocessMessages([id])).toEqual([id]);
    } finally {
      await second.close();
    }
  });

  it('answers business-key searches and ordering queries from indexes', async () => {
    const store = await openStore({ dataDir: tempDir() });
    try {
      const plan = async (sql: string) =>
        ((await store.dataSource.query(`EXPLAIN QUERY PLAN ${sql}`)) as Array<{ detail: string }>)
          .map((r) => r.detail)
          .join('\n');
      expect(
        await plan(
          "SELECT m.id FROM message_key k JOIN message m ON m.id = k.message_id WHERE k.name = 'mrn' AND k.value = '1'",
        ),
      ).toMatch(/SEARCH k USING (COVERING )?INDEX message_key_lookup_idx/);
      expect(
        await plan(
          "SELECT id FROM delivery WHERE channel_id = 'c' AND destination = 'd' AND order_key = 'k' AND seq < 5 " +
            "AND status IN ('pending', 'retrying', 'parked') ORDER BY seq DESC LIMIT 1",
        ),
      ).toMatch(/USING INDEX delivery_ordering_idx/);
      expect(
        await plan(
          "SELECT id FROM message WHERE channel_id = 'c' AND sender = 's' AND control_id = 'x' AND received_at >= 0 ORDER BY received_at LIMIT 1",
        ),
      ).toMatch(/USING INDEX message_duplicate_idx/);
      expect(
        await plan("SELECT id, channel_id, seq FROM message WHERE status = 'received' ORDER BY seq LIMIT 10"),
      ).toMatch(/USING (COVERING )?INDEX message_unprocessed_idx/);
      expect(
        await plan(
          "SELECT m.id FROM message m WHERE m.status = 'errored' AND m.status IN ('rejected', 'errored', 'failed') " +
            'ORDER BY m.received_at DESC, m.seq DESC LIMIT 10',
        ),
      ).toMatch(/USING (COVERING )?INDEX message_problem_idx/);
      expect(
        await plan(
          "SELECT id FROM delivery WHERE status IN ('pending', 'retrying', 'parked') " +
            "AND (status <> 'retrying' OR next_attempt_at <= 0) ORDER BY seq, id LIMIT 10",
        ),
      ).toMatch(/USING INDEX delivery_ordering_idx/);
      expect(
        await plan("SELECT id FROM delivery WHERE status = 'dead_lettered' ORDER BY seq DESC, id LIMIT 10"),
      ).toMatch(/USING INDEX delivery_dead_letter_idx/);
    } finally {
      await store.close();
    }
  });

  it('fails a write with an Error of its own realm even when the driver was first loaded in another realm', async () => {
    // The native addon is shared by the whole process and throws with the error constructor
    // of the first copy of better-sqlite3 that opened a database: in a jest worker, that of
    // the first test file that used SQLite. Here that copy lives in another VM context.
    const requireHere = createRequire(__filename);
    const libraryDir = dirname(requireHere.resolve('better-sqlite3/package.json'));
    const addon = requireHere(join(libraryDir, 'build', 'Release', 'better_sqlite3.node')) as {
      setErrorConstructor(constructor: unknown): void;
    };
    const foreign: { module: { exports: unknown } } = { module: { exports: undefined } };
    runInNewContext(readFileSync(join(libraryDir, 'lib', 'sqlite-error.js'), 'utf8'), foreign);
    addon.setErrorConstructor(foreign.module.exports);
    const store = await openStore({ dataDir: tempDir() });
    try {
      const m = {
        id: randomUUID(),
        channelId: 'c',
        receivedAt: new Date(),
        source: 'mllp',
        sender: 'A|B',
        contentType: 'hl7v2' as const,
        raw: Buffer.from('MSH|^~\\&|\r'),
        keys: {},
      };
      await store.insertMessages([m]);
      const failure: unknown = await store.insertMessages([{ ...m }]).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(Error);
      expect(Object.prototype.toString.call(failure)).toBe('[object Error]');
      expect(failure).toMatchObject({
        name: 'SqliteError',
        code: 'SQLITE_CONSTRAINT_UNIQUE',
        message: expect.stringContaining('UNIQUE constraint failed: message.id'),
      });
      expect((failure as Error).cause).not.toBeInstanceOf(Error);
      await expect(store.insertMessages([{ ...m }])).rejects.toThrow(/UNIQUE constraint failed/);
      expect(await store.searchMessages({ channelId: 'c' })).toHaveLength(1);
    } finally {
      addon.setErrorConstructor(SqliteError);
      await store.close();
    }
  });

  it('refuses a databaseUrl that is not PostgreSQL', async () => {
    await expect(openStore({ databaseUrl: 'mysql://localhost/x' })).rejects.toMatchObject({
      code: 'store.invalid',
    });
  });
});
