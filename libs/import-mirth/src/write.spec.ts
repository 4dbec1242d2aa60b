import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channelXml, TCP_LISTENER, TCP_SENDER } from './test-xml';
import { ExistingFileError, importMirthFiles } from './write';
import { MirthImportError } from './xml';

describe('writing an import', () => {
  let tmp: string;
  let exportFile: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'sinew-import-write-'));
    exportFile = join(tmp, 'adt.xml');
    const transformer = `<com.mirth.connect.plugins.mapper.MapperStep><sequenceNumber>0</sequenceNumber><name>mrn</name><variable>mrn</variable>
      <mapping>msg['PID']['PID.3']['PID.3.1'].toString()</mapping><scope>CHANNEL</scope></com.mirth.connect.plugins.mapper.MapperStep>`;
    writeFileSync(
      exportFile,
      channelXml({ name: 'ADT In', source: { ...TCP_LISTENER, transformer }, destinations: [TCP_SENDER] }),
    );
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  const options = (force = false) => ({
    out: join(tmp, 'channels'),
    transformersOut: join(tmp, 'transformers', 'mirth'),
    force,
  });

  it('writes the channel, its transformer and the report, creating the folders', () => {
    importMirthFiles([exportFile], options());
    expect(readdirSync(join(tmp, 'channels')).sort()).toEqual(['IMPORT-REPORT.md', 'adt-in.yaml']);
    expect(readdirSync(join(tmp, 'transformers', 'mirth'))).toEqual(['adt-in-values.yaml']);
    const channel = readFileSync(join(tmp, 'channels', 'adt-in.yaml'), 'utf8');
    expect(channel).toMatch(/^# Imported from Mirth channel "ADT In"/);
    expect(channel).toContain('keys:\n  mrn: PID-3.1\n');
    const report = readFileSync(join(tmp, 'channels', 'IMPORT-REPORT.md'), 'utf8');
    expect(report).toContain('## Channel "ADT In" → `adt-in`');
    expect(report).toContain(`Written: \`${join(tmp, 'channels', 'adt-in.yaml')}\``);
  });

  it('refuses to replace an existing file without force, writing nothing; replaces it with force', () => {
    mkdirSync(join(tmp, 'channels'));
    writeFileSync(join(tmp, 'channels', 'IMPORT-REPORT.md'), 'an earlier report\n');
    expect(() => importMirthFiles([exportFile], options())).toThrow(ExistingFileError);
    expect(() => importMirthFiles([exportFile], options())).toThrow(
      /IMPORT-REPORT\.md; give --force to replace/,
    );
    expect(existsSync(join(tmp, 'channels', 'adt-in.yaml'))).toBe(false);
    expect(existsSync(join(tmp, 'transformers'))).toBe(false);
    importMirthFiles([exportFile], options(true));
    expect(readFileSync(join(tmp, 'channels', 'IMPORT-REPORT.md'), 'utf8')).toContain(
      '# Mirth import report',
    );
  });

  it('gives a new id when a channel file of the folder already uses the name', () => {
    mkdirSync(join(tmp, 'channels'));
    writeFileSync(join(tmp, 'channels', 'mine.yaml'), 'id: adt-in\nsource: { type: mllp }\n');
    const { result } = importMirthFiles([exportFile], options());
    expect(result.channels.map((c) => c.id)).toEqual(['adt-in-2']);
  });

  it('a file that is not a Mirth export stops the import before anything is written', () => {
    const odd = join(tmp, 'odd.xml');
    writeFileSync(odd, '<?xml version="1.0"?>\n<beans><bean/></beans>');
    expect(() => importMirthFiles([exportFile, odd], options())).toThrow(MirthImportError);
    expect(() => importMirthFiles([exportFile, odd], options())).toThrow(
      `${odd}: not a Mirth channel export`,
    );
    expect(existsSync(join(tmp, 'channels'))).toBe(false);
  });

  it('a missing file is an error naming it', () => {
    expect(() => importMirthFiles([join(tmp, 'nope.xml')], options())).toThrow(/nope\.xml/);
  });
});
