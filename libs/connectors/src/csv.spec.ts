import * as iconv from 'iconv-lite';
import { csvOptions, CsvReadError, splitCsv } from './csv';

const options = (o: Record<string, unknown> = {}) => csvOptions.parse(o);

describe('splitting delimited text into csv messages', () => {
  it('gives one message per row: the column names, then the row, as RFC 4180 text', () => {
    const rows = splitCsv(Buffer.from('id,name\r\n1,Doe\r\n\r\n2,"Roe, Ann"\r\n'), options());
    expect(rows).toEqual(['id,name\n1,Doe\n', 'id,name\n2,"Roe, Ann"\n']);
  });

  it('keeps quotes and line breaks inside quoted fields', () => {
    const rows = splitCsv(Buffer.from('id,note\n1,"said ""hi""\nthen left"\n'), options());
    expect(rows).toEqual(['id,note\n1,"said ""hi""\nthen left"\n']);
  });

  it('skips a byte order mark and reads `;` as the delimiter', () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('id;name\n1;"a;b"\n')]);
    expect(splitCsv(body, options({ delimiter: ';' }))).toEqual(['id,name\n1,a;b\n']);
  });

  it('names the columns c1, c2… without a header line', () => {
    expect(splitCsv(Buffer.from('1,Doe\n2,Roe\n'), options({ header: false }))).toEqual([
      'c1,c2\n1,Doe\n',
      'c1,c2\n2,Roe\n',
    ]);
  });

  it('decodes the configured encoding', () => {
    const body = iconv.encode('id|name\n1|Müller\n', 'windows-1252');
    expect(splitCsv(body, options({ delimiter: '|', encoding: 'windows-1252' }))).toEqual([
      'id,name\n1,Müller\n',
    ]);
  });

  it('refuses a row with missing columns, naming its line', () => {
    const split = () => splitCsv(Buffer.from('id,name,dob\n1,Doe,1970\n2,Roe\n'), options());
    expect(split).toThrow(CsvReadError);
    expect(split).toThrow('line 3: the row has not as many fields as the first line');
  });

  it('refuses an unclosed quote and a quote inside a field, without quoting the data', () => {
    expect(() => splitCsv(Buffer.from('id,name\n1,"Doe\n'), options())).toThrow(
      'line 2, field 2: a quoted field is never closed',
    );
    let message = '';
    try {
      splitCsv(Buffer.from('id,name\n1,Do"e"\n'), options());
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('line 2, field 2: a quote inside a field that does not start with one');
  });

  it('gives no message for an empty file or a header line alone', () => {
    expect(splitCsv(Buffer.alloc(0), options())).toEqual([]);
    expect(splitCsv(Buffer.from('id,name\r\n'), options())).toEqual([]);
  });

  it('refuses a duplicate column name', () => {
    expect(() => splitCsv(Buffer.from('id,id\n1,2\n'), options())).toThrow(/field 2 appears twice/);
  });

  it('refuses an unknown encoding in the settings', () => {
    expect(csvOptions.safeParse({ encoding: 'klingon' }).success).toBe(false);
  });
});
