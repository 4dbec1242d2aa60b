import { classifyDatabaseError, compileNamed, numberPlaceholders, redactUrl } from './database.client';

describe('database statements', () => {
  it('turns :name parameters into placeholders, leaving casts, quotes and comments alone', () => {
    const { sql, names } = compileNamed(
      "INSERT INTO t (a, b, c) VALUES (:a, :b::text, ':not') -- :nor\n ON CONFLICT (a) DO UPDATE SET c = :a /* :x */",
    );
    expect(sql).toBe(
      "INSERT INTO t (a, b, c) VALUES (?, ?::text, ':not') -- :nor\n ON CONFLICT (a) DO UPDATE SET c = ? /* :x */",
    );
    expect(names).toEqual(['a', 'b', 'a']);
  });

  it('numbers placeholders for PostgreSQL outside quoted text', () => {
    expect(numberPlaceholders(`SELECT ? , '?', "a?" FROM t WHERE x = ?`)).toBe(
      `SELECT $1 , '?', "a?" FROM t WHERE x = $2`,
    );
  });

  it('keeps credentials out of a URL shown in logs', () => {
    expect(redactUrl('postgres://sinew:s3cret@db:5432/pms')).toBe('postgres://db:5432/pms');
  });

  it('retries what a later attempt can fix, fails the rest with the database code', () => {
    expect(classifyDatabaseError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toMatchObject({
      retry: true,
      code: 'ECONNREFUSED',
    });
    expect(classifyDatabaseError(Object.assign(new Error('x'), { code: '40P01' })).retry).toBe(true);
    expect(classifyDatabaseError(Object.assign(new Error('x'), { code: '57P01' })).retry).toBe(true);
    expect(
      classifyDatabaseError(
        Object.assign(new Error("Duplicate entry 'M1'"), { code: 'ER_DUP_ENTRY', sqlState: '23000' }),
      ),
    ).toEqual({
      retry: false,
      code: 'ER_DUP_ENTRY',
      text: 'a constraint was violated (SQLSTATE 23000, ER_DUP_ENTRY)',
    });
    expect(classifyDatabaseError(Object.assign(new Error('x'), { code: 'ER_LOCK_DEADLOCK' })).retry).toBe(
      true,
    );
    expect(classifyDatabaseError(Object.assign(new Error('x'), { code: 'SQLITE_BUSY' })).retry).toBe(true);
    expect(
      classifyDatabaseError(Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT_UNIQUE' })).retry,
    ).toBe(false);
  });
});
