import { readFileSync } from 'node:fs';
import { corpusPath } from '@sinew/test-support';
import { Hl7Message } from '@sinew/hl7v2';
import {
  BUILT_IN_TRANSFORMERS,
  parseTransformerFile,
  TransformerLibrary,
  type TransactionBundle,
} from '@sinew/mapping';
import { Hl7MessageNode } from './source';

type Resource = Record<string, unknown>;

const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);

/** A transformer from a spec object (what a YAML file holds). */
function transformer(spec: Record<string, unknown>) {
  const file = parseTransformerFile(JSON.stringify(spec), `${String(spec.transformer)}.yaml`);
  return TransformerLibrary.fromFiles([file]).get(String(spec.transformer));
}

const resources = (bundle: TransactionBundle, type: string): Resource[] =>
  bundle.entry.map((e) => e.resource as Resource).filter((r) => r.resourceType === type);

/** HAPI's uuencoded ED payload, escaped (`\X0D\\X0A\`, `\T\`, `\S\`, `\E\`) and plain. */
const HAPI_ESCAPED = readFileSync(
  corpusPath('hl7v2/hapi/parser-resources/uuencoded_escaped.txt'),
  'latin1',
).trim();
const HAPI_PLAIN = readFileSync(corpusPath('hl7v2/hapi/parser-resources/uuencoded.txt'), 'latin1').trim();

/** An ORU whose text result and notes use formatting escapes. */
const ORU = [
  'MSH|^~\\&|LAB|HOSP|EHR|CLINIC|20260301120000||ORU^R01^ORU_R01|F1|P|2.5.1',
  'PID|1||MRN1^^^HOSP^MR||Smith&Booth&Jones^Ann||19800101|F',
  `OBR|1|ORD1|FIL1|11502-2^Lab report^LN|||20260301100000${'|'.repeat(18)}F`,
  'OBX|1|FT|11526-1^Pathology study^LN||\\H\\IMPRESSION\\N\\:\\.br\\Benign.\\.sp2\\\\.ce\\Signed\\.in+4\\ Dr A\\.sk3\\end \\T\\ \\F\\ caf\\XC3A9\\||||||F',
  'NTE|1|L|Line one\\.br\\Line two\\.ti-2\\ indented',
  `OBX|2|TX|18769-0^Attachment^LN||${HAPI_ESCAPED}||||||F`,
].join('\r');

describe('HL7 source: formatting escapes become text in FHIR strings', () => {
  const bundle = library.get('oru-to-fhir').run(Hl7Message.parse(ORU)) as TransactionBundle;
  const [first, second] = resources(bundle, 'Observation');

  it('renders \\.br\\, \\.sp\\, \\.ce\\, \\.sk\\ as line breaks and spaces, drops \\H\\ \\N\\ \\.in\\, decodes the rest', () => {
    expect(first?.valueString).toBe('IMPRESSION:\nBenign.\n\n\nSigned Dr A   end & | café');
    expect(first?.note).toEqual([{ text: 'Line one\nLine two indented' }]);
  });

  it("decodes HAPI's escaped uuencoded payload to the plain file, line breaks included", () => {
    expect(HAPI_ESCAPED).toContain('\\X0D\\\\X0A\\');
    // The plain file ends its lines with LF where the escaped one writes CRLF (\X0D\\X0A\).
    expect((second?.valueString as string).replace(/\r\n/g, '\n')).toBe(HAPI_PLAIN);
    expect(second?.valueString).toContain('WAV.DAT\r\nM)5!$1BTQ');
  });

  it('keeps the escapes in the message itself: parse → encode is byte-exact, get keeps them', () => {
    const bytes = Buffer.from(ORU, 'utf8');
    const msg = Hl7Message.parse(bytes);
    expect(msg.toBuffer().equals(bytes)).toBe(true);
    expect(msg.get('NTE-3')).toBe('Line one\\.br\\Line two\\.ti-2\\ indented');
    msg.set('NTE-3', msg.get('NTE-3'));
    msg.set('OBX[2]-5', msg.get('OBX[2]-5'));
    expect(msg.toString()).toBe(ORU);
  });
});

describe('HL7 source: a map writing HL7 v2 keeps formatting escapes as written', () => {
  const copy = transformer({
    transformer: 'oru-copy',
    input: 'hl7v2',
    output: 'hl7v2',
    message_type: 'ORU^R01^ORU_R01',
    version: '2.5.1',
    resources: [
      {
        name: 'obx',
        segment: 'OBX',
        each: 'OBX',
        rules: [
          { from: 'OBX-1', to: 'OBX-1' },
          { from: 'OBX-2', to: 'OBX-2' },
          { from: 'OBX-5', to: 'OBX-5' },
        ],
      },
      { name: 'nte', segment: 'NTE', each: 'NTE', rules: [{ from: 'NTE-3', to: 'NTE-3' }] },
    ],
  });

  it('copies OBX-5 and NTE-3 with the same bytes', () => {
    const source = Hl7Message.parse(ORU);
    const out = Hl7Message.parse((copy.run(source) as Hl7Message).toBuffer());
    // Formatting escapes as written; \Xhh\ is data, written back as the character it stands for.
    expect(out.getRaw('OBX[1]-5')).toBe(source.getRaw('OBX[1]-5').replace('caf\\XC3A9\\', 'café'));
    // The 85 KB payload byte for byte, but for its final line break: mapped values are trimmed.
    const payload = source.getRaw('OBX[2]-5');
    expect(payload.endsWith('end\\X0D\\\\X0A\\')).toBe(true);
    expect(out.getRaw('OBX[2]-5')).toBe(payload.slice(0, -'\\X0D\\\\X0A\\'.length));
    expect(out.getRaw('NTE-3')).toBe(source.getRaw('NTE-3'));
  });
});

describe('HL7 source: a component that holds subcomponents', () => {
  const msg = Hl7Message.parse(
    'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5.1\r' +
      'PID|1||MRN9^^^Clinic&1.2.3.4&ISO^MR||Smith&Booth&Jones^Ann~van\\T\\der&Berg^Jo\r',
  );
  const names = transformer({
    transformer: 'names',
    input: 'hl7v2',
    output: 'json',
    resources: [
      {
        name: 'out',
        rules: [
          { from: 'PID-5.1', to: 'family' },
          { from: 'PID-5.1.2', to: 'second' },
          { from: 'PID-5.1.3', to: 'third' },
          { from: 'PID-5[2].1', to: 'otherFamily' },
          { from: 'PID-5', to: 'whole' },
          { from: 'PID-3.4', to: 'authority' },
          { from: 'PID-3.4', to: 'system', fn: 'system_uri' },
          { const: 'yes', to: 'matched', when: { path: 'PID-5.1', equals: 'Smith&Booth&Jones' } },
        ],
      },
    ],
  });

  it('a rule writes its first subcomponent, as Hl7Message.get reads it; the others by their own paths', () => {
    expect(msg.get('PID-5.1')).toBe('Smith');
    expect(names.run(msg)).toEqual({
      family: 'Smith',
      second: 'Booth',
      third: 'Jones',
      otherFamily: 'van&der',
      whole: 'Smith&Booth&Jones^Ann',
      authority: 'Clinic',
      // Functions and conditions read the whole component (an HD as namespace&id&type).
      system: 'urn:oid:1.2.3.4',
      matched: 'yes',
    });
  });

  it('nodes: value() is the first subcomponent, text() the whole', () => {
    const [node] = new Hl7MessageNode(msg).select('PID-5.1');
    expect(node?.value()).toBe('Smith');
    expect(node?.text()).toBe('Smith&Booth&Jones');
    expect(new Hl7MessageNode(msg).select('PID-5.1.2')[0]?.value()).toBe('Booth');
  });

  it('keeps formatting escapes as written when asked (maps writing HL7 v2)', () => {
    const oru = Hl7Message.parse(ORU);
    expect(new Hl7MessageNode(oru, { formatting: 'keep' }).select('NTE-3')[0]?.text()).toBe(
      'Line one\\.br\\Line two\\.ti-2\\ indented',
    );
    expect(new Hl7MessageNode(oru).select('NTE-3')[0]?.text()).toBe('Line one\nLine two indented');
  });
});
