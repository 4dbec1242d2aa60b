import { CsvPayloadError, readCsvPayload } from './csv';

describe('csv messages', () => {
  it('reads the row by column name, values as text', () => {
    expect(readCsvPayload('id,name,note\n00123,"Doe, Jane","two\nlines"\n')).toEqual({
      id: '00123',
      name: 'Doe, Jane',
      note: 'two\nlines',
    });
  });

  it('refuses a payload without a row, or with several', () => {
    expect(() => readCsvPayload('id,name\n')).toThrow(CsvPayloadError);
    expect(() => readCsvPayload('id\n1\n2\n')).toThrow(/holds one row/);
    expect(() => readCsvPayload('id\n"1\n')).toThrow(/^line \d+: the text is not well-formed CSV/);
  });
});
