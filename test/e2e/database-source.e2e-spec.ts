import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '@sinew/store';
import { startEngineProcess, type EngineProcess } from '@sinew/test-support/engine-process';
import { waitFor } from '@sinew/test-support/wait';

jest.setTimeout(120_000);

const ROWS = 300;

/** Messages in the ledger so far, read from its file while the engine runs. */
function ledgerCount(dataDir: string): number {
  try {
    const db = new Database(join(dataDir, 'sinew.db'), { readonly: true, fileMustExist: true });
    try {
      return (
        db.prepare("SELECT count(*) AS n FROM message WHERE channel_id = 'visits'").get() as { n: number }
      ).n;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

describe('sinew start with a database source, killed while it polls', () => {
  let dir: string;
  let proc: EngineProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-e2e-db-'));
  });
  afterEach(async () => {
    await proc?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('after kill -9 and a restart, every row is in the ledger exactly once', async () => {
    const pms = join(dir, 'pms.db');
    const db = new Database(pms);
    db.exec('CREATE TABLE visits (id INTEGER PRIMARY KEY, mrn TEXT NOT NULL, updated_at TEXT NOT NULL)');
    const insert = db.prepare('INSERT INTO visits (id, mrn, updated_at) VALUES (?, ?, ?)');
    // Ten rows share each time stamp: the (mark, key) order is what keeps them apart.
    for (let id = 1; id <= ROWS; id++)
      insert.run(id, `MRN-${id}`, `2026-03-01 10:${String(Math.floor(id / 10) % 60).padStart(2, '0')}:00`);
    db.close();

    const channels = join(dir, 'channels');
    const data = join(dir, 'data');
    mkdirSync(channels);
    writeFileSync(
      join(channels, 'visits.yaml'),
      `id: visits
source:
  type: database
  url: sqlite:${pms}
  table: visits
  mark_column: updated_at
  key_column: id
  batch_size: 7
  poll_interval_ms: 20
`,
    );

    proc = await startEngineProcess({ channelsDir: channels, dataDir: data });
    await waitFor('some rows committed', () => ledgerCount(data) >= 20 || undefined, 30_000, 5);
    await proc.kill();
    const atKill = ledgerCount(data);
    expect(atKill).toBeLessThan(ROWS);

    proc = await startEngineProcess({ channelsDir: channels, dataDir: data });
    await waitFor('every row', () => ledgerCount(data) >= ROWS || undefined, 60_000, 50);
    await proc.stop();
    proc = undefined;

    const store = await openStore({ dataDir: data });
    try {
      const messages = await store.searchMessages({ channelId: 'visits', limit: 1000 });
      const ids: number[] = [];
      for (const m of messages) {
        const raw = (await store.getContent(m.id, 'raw')) as Buffer;
        ids.push((JSON.parse(raw.toString('utf8')) as { id: number }).id);
      }
      expect(ids).toHaveLength(ROWS);
      expect(new Set(ids).size).toBe(ROWS);
      const cursor = await store.getSourceCursor('visits', 'database');
      expect(JSON.parse(cursor?.value as string)).toMatchObject({ key: ROWS });
    } finally {
      await store.close();
    }
  });
});
