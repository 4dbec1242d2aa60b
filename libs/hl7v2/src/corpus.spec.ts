import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { corpusFiles, corpusPath } from '@sinew/test-support';
import {
  Hl7Message,
  Hl7ParseError,
  parseBatch,
  decodeValue,
  encodeText,
  encodeValue,
  buildAck,
} from '@sinew/hl7v2';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const withoutBom = (b: Buffer) => (b.subarray(0, 3).equals(BOM) ? b.subarray(3) : b);

/** Files that hold a message or a batch (after a BOM): the rest are XML, notes or fragments. */
function isHl7File(path: string): boolean {
  const head = withoutBom(readFileSync(path)).subarray(0, 3).toString('latin1');
  return head === 'MSH' || head === 'FHS' || head === 'BHS';
}

const pythonExpect = JSON.parse(readFileSync(corpusPath('hl7v2/python-hl7/expectations.json'), 'utf8')) as {
  expectations: Record<string, Record<string, unknown>>;
};
const badOnPurpose = new Set(
  Object.entries(pythonExpect.expectations)
    .filter(([, e]) => e.error)
    .map(([f]) => f),
);

describe('corpus: every HL7 v2 file parses and serializes back byte-exact', () => {
  const files = [
    ...corpusFiles('hl7v2', (n) => /\.(hl7|txt)$/.test(n) && !/^(LICENSE|SOURCE)/.test(n)),
    ...corpusFiles('fhir-converter-01/hl7v2-samples'),
  ].filter((f) => isHl7File(f) && !badOnPurpose.has(basename(f)));

  it('finds the corpus', () => {
    expect(files.length).toBeGreaterThan(100);
  });

  it.each(files.map((f) => [f.slice(f.indexOf('corpus/') + 7), f]))('%s', (_name, file) => {
    const bytes = readFileSync(file);
    const expected = withoutBom(bytes);
    const batch = parseBatch(bytes);
    expect(batch.toBuffer().equals(expected)).toBe(true);
    if (batch.messages.length === 1 && !batch.header && !batch.batches[0]?.header) {
      const msg = Hl7Message.parse(bytes);
      expect(msg.toBuffer().equals(expected)).toBe(true);
      // A re-encoded (not merely copied) message is byte-exact too.
      expect(encodeText(msg.toString(), msg.encoding).equals(expected)).toBe(true);
      expect(msg.segments.length).toBeGreaterThan(0);
    }
  });
});

describe('corpus: HAPI example collection (messages.txt, comments and blank lines between messages)', () => {
  const text = readFileSync(corpusPath('hl7v2/hapi/util-resources/messages.txt'), 'latin1');
  const chunks = text
    .split(/\n\s*\n/)
    .map((c) =>
      c
        .split('\n')
        .filter((l) => !/^\s*(\/\/|\/\*|\*)/.test(l))
        .join('\r'),
    )
    .filter((c) => c.startsWith('MSH'));

  it('holds many messages', () => expect(chunks.length).toBeGreaterThan(10));

  it.each(chunks.map((c, i) => [i + 1, c]))('message %i parses and round-trips', (_i, chunk) => {
    const file = parseBatch(chunk);
    expect(file.toString()).toBe(chunk);
    for (const msg of file.messages) expect(msg.get('MSH-9.1')).not.toBe('');
  });
});

describe('corpus: medplum expectations', () => {
  const spec = JSON.parse(readFileSync(corpusPath('hl7v2/medplum/expectations.json'), 'utf8')) as {
    expectations: Array<{
      file: string;
      segments?: number;
      names?: string[];
      roundtrip_exact?: boolean;
      checks?: Record<string, string | number>;
      ack_msh9_medplum?: string;
    }>;
  };

  it.each(spec.expectations.map((e) => [e.file, e]))('%s', (_f, e) => {
    const bytes = readFileSync(corpusPath('hl7v2/medplum/messages', e.file));
    const msg = Hl7Message.parse(bytes);
    if (e.segments !== undefined) expect(msg.segments.length).toBe(e.segments);
    if (e.names) expect(msg.segments.map((s) => s.name)).toEqual(e.names);
    if (e.roundtrip_exact) expect(msg.toBuffer().equals(bytes)).toBe(true);
    for (const [key, want] of Object.entries(e.checks ?? {})) {
      if (key === 'count(OBX)') expect(msg.segmentsNamed('OBX').length).toBe(want);
      else if (key === 'OBX[i]-1')
        expect(msg.getAll('OBX[*]-1')).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9']);
      else if (/^[A-Z0-9]{3}$/.test(key)) expect(msg.segment(key)?.toString()).toBe(want);
      else expect(msg.get(key)).toBe(want);
    }
    if (e.ack_msh9_medplum !== undefined) {
      expect(buildAck(msg, { code: 'AA' }).getRaw('MSH-9')).toBe(e.ack_msh9_medplum);
    }
  });
});

describe('corpus: python-hl7 batch structures and errors', () => {
  it.each(Object.entries(pythonExpect.expectations))('%s', (file, e) => {
    const bytes = readFileSync(corpusPath('hl7v2/python-hl7/samples', file));
    if (e.error) {
      let caught: unknown;
      try {
        parseBatch(bytes);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(Hl7ParseError);
      const err = caught as Hl7ParseError;
      const message = String(e.message);
      if (message.startsWith('Segment received before message header')) {
        expect(err.code).toBe('hl7.batch.segment_before_header');
        expect(err.location.segment).toBe('EVN');
        // The line named is the EVN line of the file.
        const lines = bytes.toString('latin1').split(/\r\n|\r|\n/);
        expect(lines[(err.location.line ?? 0) - 1]).toMatch(/^EVN\|A04\|20060705000000/);
      } else if (message.includes('more than one BHS')) {
        expect(err.code).toBe('hl7.batch.duplicate_bhs');
        expect(err.location.segment).toBe('BHS');
      } else if (message.includes('more than one FHS')) {
        expect(err.code).toBe('hl7.batch.duplicate_fhs');
        expect(err.location.segment).toBe('FHS');
      } else {
        throw new Error(`unhandled expectation ${message}`);
      }
      expect(err.location.line).toBeGreaterThan(1);
      return;
    }
    const batch = parseBatch(bytes);
    expect(batch.toBuffer().equals(bytes)).toBe(true);
    if (e.kind === 'message') {
      expect(batch.messages).toHaveLength(1);
      expect(batch.messages[0]?.segments).toHaveLength(e.segments as number);
    } else if (e.kind === 'batch') {
      expect(batch.header).toBeUndefined();
      expect(batch.batches).toHaveLength(1);
      expect(batch.messages).toHaveLength(e.messages as number);
      expect(batch.batches[0]?.header !== undefined).toBe(e.header);
      expect(batch.batches[0]?.trailer !== undefined).toBe(
        bytes.includes('\rBTS') || bytes.includes('\nBTS'),
      );
    } else {
      expect(batch.batches.map((b) => b.messages.length)).toEqual(e.batches);
      expect(batch.header !== undefined).toBe(e.file_header);
      expect(batch.batches.map((b) => b.header !== undefined)).toEqual(e.batch_headers);
      // python-hl7 invents a BTS/FTS for a batch/file that has a header and drops a trailer that
      // has none; Sinew reports the segments the file holds.
      const lines = bytes.toString('latin1').split(/[\r\n]+/);
      const btsInFile = lines.filter((l) => l.startsWith('BTS')).length;
      expect(batch.trailer !== undefined).toBe(lines.some((l) => l.startsWith('FTS')));
      expect(batch.batches.filter((b) => b.trailer !== undefined)).toHaveLength(btsInFile);
    }
  });
});

describe('corpus: HAPI escape test (uuencoded ED payload with \\E\\ \\S\\ \\T\\ \\X0D\\ \\X0A\\)', () => {
  const escaped = readFileSync(corpusPath('hl7v2/hapi/parser-resources/uuencoded_escaped.txt'), 'latin1');
  const plain = readFileSync(corpusPath('hl7v2/hapi/parser-resources/uuencoded.txt'), 'latin1');
  const d = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

  it('decodes to the plain payload (CRLF line ends from \\X0D\\\\X0A\\)', () => {
    const decoded = decodeValue(escaped.replace(/[\r\n]+$/, ''), d);
    expect(decoded.replace(/\r\n/g, '\n')).toBe(plain);
  });

  it('re-encodes to exactly the escaped text', () => {
    const raw = escaped.replace(/[\r\n]+$/, '');
    expect(encodeValue(decodeValue(raw, d), d)).toBe(raw);
  });

  it('survives as an OBX-5 of a message: set, serialize, parse, get', () => {
    const msg = Hl7Message.create({ type: 'ORU^R01', controlId: '1', dateTime: '20260101' });
    const payload = decodeValue(escaped.replace(/[\r\n]+$/, ''), d);
    msg.set('OBX-5', payload);
    const again = Hl7Message.parse(msg.toBuffer());
    expect(again.get('OBX-5')).toBe(payload);
    expect(again.getRaw('OBX-5')).toBe(escaped.replace(/[\r\n]+$/, ''));
  });
});
