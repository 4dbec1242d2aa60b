import { bindNamed, describeUrl, dialectOf, sqlAdapter, stripQuery, toRawValue } from './sql';

const values = { from: '2026-12-06T05:00:00.000Z', to: null };

describe('sql adapter, pure parts', () => {
  it('picks the driver by the URL scheme', () => {
    expect(dialectOf('postgres://u@h/db')).toBe('postgres');
    expect(dialectOf('postgresql://u@h/db')).toBe('postgres');
    expect(dialectOf('mysql://root@127.0.0.1:3306/pms')).toBe('mysql');
    expect(dialectOf('mariadb://root@127.0.0.1/pms')).toBe('mysql');
    expect(dialectOf('sqlite:data/pms.db')).toBe('sqlite');
    expect(dialectOf('oracle://x')).toBeUndefined();
    expect(() => sqlAdapter.system.parse({ type: 'sql', url: 'mssql://x' })).toThrow('postgres://');
  });

  it('numbers :from and :to for PostgreSQL, reusing a repeated name', () => {
    const bound = bindNamed(
      'SELECT * FROM t WHERE (:from::timestamptz IS NULL OR u >= :from::timestamptz) AND u < :to',
      'postgres',
      values,
    );
    expect(bound.text).toBe(
      'SELECT * FROM t WHERE ($1::timestamptz IS NULL OR u >= $1::timestamptz) AND u < $2',
    );
    expect(bound.values).toEqual(['2026-12-06T05:00:00.000Z', null]);
  });

  it('gives ? per use for MySQL and SQLite', () => {
    const bound = bindNamed(
      'SELECT * FROM t WHERE (:from IS NULL OR u >= :from) AND u < :to',
      'mysql',
      values,
    );
    expect(bound.text).toBe('SELECT * FROM t WHERE (? IS NULL OR u >= ?) AND u < ?');
    expect(bound.values).toEqual([values.from, values.from, null]);
  });

  it('leaves strings, identifiers, comments, dollar quotes, casts and other names alone', () => {
    const sql = `SELECT ':from' AS a, "x:to" AS b, $$ :from $$ AS c, d::text, :fromage -- :to\n/* :from */ FROM t WHERE u = :to`;
    const bound = bindNamed(sql, 'postgres', values);
    expect(bound.text).toBe(
      `SELECT ':from' AS a, "x:to" AS b, $$ :from $$ AS c, d::text, :fromage -- :to\n/* :from */ FROM t WHERE u = $1`,
    );
    expect(bound.values).toEqual([null]);
    expect(
      bindNamed("SELECT 'it''s :to', `c:from` FROM t # :from\nWHERE a = :from", 'mysql', values).text,
    ).toBe("SELECT 'it''s :to', `c:from` FROM t # :from\nWHERE a = ?");
  });

  it('strips trailing semicolons so that the query can be wrapped', () => {
    expect(stripQuery('SELECT 1;  \n')).toBe('SELECT 1');
  });

  it('turns driver values into comparable values', () => {
    expect(toRawValue(12n)).toBe('12');
    expect(toRawValue(new Date('2026-12-06T10:00:00Z'))).toBe('2026-12-06T10:00:00.000Z');
    expect(toRawValue(Buffer.from('abc'))).toBe('abc');
    expect(toRawValue(undefined)).toBeNull();
    expect(toRawValue({ a: 1 })).toBe('{"a":1}');
  });

  it('keeps passwords out of URLs shown in errors', () => {
    expect(describeUrl('postgres://user:secret@db:5432/pms')).toBe('postgres://user@db:5432/pms');
    expect(describeUrl('mysql://root:pw@127.0.0.1:3306/pms')).toBe('mysql://root@127.0.0.1:3306/pms');
  });
});
