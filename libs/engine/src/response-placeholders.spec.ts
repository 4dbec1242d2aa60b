import {
  hasResponsePlaceholder,
  PlaceholderError,
  resolveResponsePlaceholders,
  type AwaitedResponse,
} from './response-placeholders';

const fhir: AwaitedResponse = {
  destination: 'ehr',
  code: 'HTTP 200',
  response: Buffer.from(
    JSON.stringify({
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: [{ response: { status: '201 Created', location: 'Patient/123/_history/1' } }],
      note: 'a "quoted" | value',
      count: 2,
    }),
  ),
};
const ack: AwaitedResponse = {
  destination: 'pms',
  code: 'AA',
  response: Buffer.from(
    'MSH|^~\\&|PMS|CLINIC|SINEW|LAB|20260316101500||ACK^R01|A-9|P|2.5\rMSA|AA|C-1\r',
    'latin1',
  ),
};

const resolve = (text: string, awaited: AwaitedResponse, type: 'json' | 'hl7v2' | 'xml' | 'text' = 'json') =>
  resolveResponsePlaceholders(Buffer.from(text, 'latin1'), type, awaited).toString('utf8');

describe('response placeholders', () => {
  it('reads JSON paths (dots or brackets for indexes) and the outcome code', () => {
    expect(resolve('{"ref":"${response.ehr.json.entry.0.response.location}"}', fhir)).toBe(
      '{"ref":"Patient/123/_history/1"}',
    );
    expect(resolve('${response.ehr.json.entry[0].response.status} ${response.ehr.code}', fhir, 'text')).toBe(
      '201 Created HTTP 200',
    );
    expect(resolve('n=${response.ehr.json.count}', fhir, 'text')).toBe('n=2');
  });

  it('escapes each value for the payload it goes into', () => {
    expect(resolve('{"note":"${response.ehr.json.note}"}', fhir)).toBe('{"note":"a \\"quoted\\" | value"}');
    expect(resolve('MSH|^~\\&|A\rNTE|1||${response.ehr.json.note}\r', fhir, 'hl7v2')).toBe(
      'MSH|^~\\&|A\rNTE|1||a "quoted" \\F\\ value\r',
    );
    expect(resolve('<n>${response.ehr.json.note}</n>', fhir, 'xml')).toBe(
      '<n>a &quot;quoted&quot; | value</n>',
    );
  });

  it('reads fields of an HL7 v2 ACK', () => {
    expect(
      resolve('MSH|^~\\&|X\rZAK|${response.pms.hl7.MSA-2}|${response.pms.hl7.MSH-10}\r', ack, 'hl7v2'),
    ).toBe('MSH|^~\\&|X\rZAK|C-1|A-9\r');
  });

  it('keeps every byte around the placeholders (latin1 payloads included)', () => {
    const body = Buffer.concat([
      Buffer.from([0xe9, 0x20]),
      Buffer.from('${response.pms.code}'),
      Buffer.from([0xfc]),
    ]);
    expect([...resolveResponsePlaceholders(body, 'hl7v2', ack)]).toEqual([0xe9, 0x20, 0x41, 0x41, 0xfc]);
    const none = Buffer.from('no placeholder');
    expect(resolveResponsePlaceholders(none, 'text', ack)).toBe(none);
    expect(hasResponsePlaceholder(none)).toBe(false);
    expect(hasResponsePlaceholder(Buffer.from('x ${response.pms.code}'))).toBe(true);
  });

  it.each<[string, string, AwaitedResponse]>([
    [
      '${response.ehr.json.entry.1.response.location}',
      'the response of ehr has no value at entry.1.response.location',
      fhir,
    ],
    [
      '${response.ehr.json.entry}',
      'the response of ehr has a list or an object at entry, not one value',
      fhir,
    ],
    ['${response.ehr.hl7.MSA-2}', 'cannot read MSA-2 from the response of ehr', fhir],
    ['${response.pms.json.id}', 'the response of pms is not JSON', ack],
    ['${response.pms.hl7.MSA-3}', 'the response of pms has no MSA-3', ack],
    ['${response.lab.code}', 'this destination waits for pms, not lab', ack],
    [
      '${response.pms.header.location}',
      'write ${response.<destination>.code}, .body, .json.<path> or .hl7.<path>',
      ack,
    ],
    ['${response.pms.json}', '.json needs a path', ack],
    ['${response.pms.body}', 'destination pms recorded no response body', { destination: 'pms' }],
  ])('refuses %s: %s', (placeholder, reason, awaited) => {
    let error: unknown;
    try {
      resolve(`x ${placeholder} y`, awaited, 'text');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PlaceholderError);
    expect((error as Error).message).toContain(`placeholder ${placeholder}: ${reason}`);
  });
});
