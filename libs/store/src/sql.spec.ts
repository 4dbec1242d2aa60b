import Database from 'better-sqlite3';
import { SqliteDatabase } from './sql';

describe('SQLite transactions committed together', () => {
  function open() {
    const connection = new Database(':memory:');
    connection.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    return { connection, db: new SqliteDatabase(connection) };
  }

  it('commits waiting transactions in one group; a failing one is rolled back alone', async () => {
    const { connection, db } = open();
    let commits = 0;
    const realPrepare = connection.prepare.bind(connection);
    jest.spyOn(connection, 'prepare').mockImplementation((sql: string) => {
      const statement = realPrepare(sql);
      if (sql === 'COMMIT') {
        const run = statement.run.bind(statement);
        statement.run = (...args: unknown[]) => {
          commits++;
          return run(...args);
        };
      }
      return statement;
    });
    // Asked for in the same turn of the event loop: committed together.
    const results = await Promise.allSettled([
      db.transaction(async (tx) => tx.run('INSERT INTO t (id, v) VALUES (1, ?)', ['a'])),
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO t (id, v) VALUES (2, ?)', ['b']);
        throw new Error('refused');
      }),
      db.transaction(async (tx) => tx.run('INSERT INTO t (id, v) VALUES (3, ?)', ['c'])),
      db.transaction(async (tx) => tx.run('INSERT INTO t (id, v) VALUES (1, ?)', ['duplicate'])),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(Error);
    expect(await db.all('SELECT id, v FROM t ORDER BY id')).toEqual([
      { id: 1, v: 'a' },
      { id: 3, v: 'c' },
    ]);
    expect(commits).toBe(1);
    // A transaction asked for later is a group of its own.
    await db.transaction(async (tx) => tx.run('INSERT INTO t (id, v) VALUES (4, ?)', ['d']));
    expect(commits).toBe(2);
    expect(connection.inTransaction).toBe(false);
  });

  it('runs a lone transaction as before and rolls it back when it fails', async () => {
    const { connection, db } = open();
    await expect(
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO t (id, v) VALUES (5, ?)', ['x']);
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    await db.transaction(async (tx) => tx.run('INSERT INTO t (id, v) VALUES (6, ?)', ['y']));
    expect(await db.all('SELECT id FROM t')).toEqual([{ id: 6 }]);
    expect(connection.inTransaction).toBe(false);
  });

  it('answers nobody before the COMMIT, and everybody with its error when the COMMIT fails', async () => {
    const { connection, db } = open();
    const realPrepare = connection.prepare.bind(connection);
    jest.spyOn(connection, 'prepare').mockImplementation((sql: string) => {
      // A disk that fails at COMMIT time.
      if (sql === 'COMMIT') throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
      return realPrepare(sql);
    });
    const results = await Promise.allSettled([
      db.transaction(async (tx) => tx.run('INSERT INTO t (id, v) VALUES (1, ?)', ['a'])),
      db.transaction(async (tx) => tx.run('INSERT INTO t (id, v) VALUES (2, ?)', ['b'])),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    jest.restoreAllMocks();
    expect(await db.all('SELECT id FROM t')).toEqual([]);
  });
});
