import { Hl7Message } from '@sinew/hl7v2';
import { TransformerLibrary, parseTransformerFile, type TransactionBundle } from '@sinew/mapping';

const library = (files: Array<[string, string]>) =>
  TransformerLibrary.fromFiles(files.map(([name, text]) => parseTransformerFile(text, name)));

const parse = (lines: string[]) => Hl7Message.parse(lines.join('\r'));

describe('notes from following segments', () => {
  const lib = library([
    [
      'notes.yaml',
      [
        'transformer: notes',
        'input: hl7v2',
        'output: json',
        'resources:',
        '  - name: obs',
        '    each: OBX',
        '    rules:',
        '      - from: OBX-3',
        '        to: code',
        '      - following: NTE',
        '        to: "note[]"',
        '        rules:',
        '          - { from: NTE-3, to: text }',
        '          - { from: NTE-6, to: time, fn: hl7_datetime }',
      ].join('\n'),
    ],
  ]);

  it('builds one object per following segment, read from that segment', () => {
    const out = lib
      .get('notes')
      .run(
        parse([
          'MSH|^~\\&|LAB||||20260101||ORU^R01|1|P|2.5.1',
          'OBX|1|ST|A||x',
          'NTE|1||first|||202601011200+0100',
          'NTE|2||second',
          'OBX|2|ST|B||y',
          'OBX|3|ST|C||z',
          'NTE|1||third',
        ]),
      ) as { obs: Array<{ code: string; note?: unknown[] }> };
    expect(out.obs.map((o) => o.note)).toEqual([
      [{ text: 'first', time: '2026-01-01T12:00:00+01:00' }, { text: 'second' }],
      undefined,
      [{ text: 'third' }],
    ]);
  });
});

describe('groups, siblings and identities in FHIR output', () => {
  const lib = library([
    [
      'lab.yaml',
      [
        'transformer: lab',
        'input: hl7v2',
        'output: fhir',
        'resources:',
        '  - name: report',
        '    type: DiagnosticReport',
        '    each: OBR',
        '    rules:',
        '      - { from: OBR-4, to: code.text }',
        '      - { ref: observation, to: "result[]" }',
        '      - { ref: specimen, to: "specimen[]" }',
        '  - name: observation',
        '    type: Observation',
        '    each: OBX',
        '    within: report',
        '    rules:',
        '      - { from: OBX-3, to: code.text }',
        '      - { ref: specimen, to: specimen }',
        '      - { ref: performer, to: "performer[]" }',
        '  - name: specimen',
        '    type: Specimen',
        '    each: SPM',
        '    within: report',
        '    rules:',
        '      - { from: SPM-4, to: type.text }',
        '  - name: performer',
        '    type: Practitioner',
        '    each: OBX',
        '    within: observation',
        '    when: { path: OBX-16, present: true }',
        '    identity: { path: OBX-16, type: XCN }',
        '    rules:',
        '      - { from: OBX-16.2, to: "name[0].family" }',
        '  - name: appointment',
        '    type: Appointment',
        '    segment: SCH',
        '    identity: { path: SCH-2, type: EI }',
        '    rules:',
        '      - { const: booked, to: status }',
      ].join('\n'),
    ],
  ]);
  const msg = parse([
    'MSH|^~\\&|LAB||||20260101||ORU^R01|1|P|2.5.1',
    'SCH|P1|F77^SCHED^1.2.3^ISO',
    'OBR|1|||CBC',
    'OBX|1|NM|WBC||5|||||||||||7^Ray^^^^^^^LAB&1.2.840.1&ISO',
    'OBX|2|NM|RBC||4|||||||||||7^Ray^^^^^^^LAB&1.2.840.1&ISO',
    'SPM|1||||BLD',
    'OBR|2|||BMP',
    'OBX|1|NM|NA||140',
    'SPM|1||||SER',
  ]);
  const bundle = lib.get('lab').run(msg) as TransactionBundle;
  const of = (type: string) => bundle.entry.filter((e) => e.resource.resourceType === type);
  const url = (type: string, i = 0) => of(type)[i]?.fullUrl;

  it("refers an observation to its own report's specimen", () => {
    const obs = of('Observation').map((e) => e.resource);
    expect(obs[0]?.specimen).toEqual({ reference: url('Specimen', 0) });
    expect(obs[2]?.specimen).toEqual({ reference: url('Specimen', 1) });
    expect(of('DiagnosticReport')[1]?.resource.specimen).toEqual([{ reference: url('Specimen', 1) }]);
  });

  it('groups a resource under a parent made from the same segment', () => {
    const obs = of('Observation').map((e) => e.resource);
    expect(obs[0]?.performer).toEqual([{ reference: url('Practitioner') }]);
    expect(obs[1]?.performer).toEqual([{ reference: url('Practitioner') }]);
    expect(obs[2]).not.toHaveProperty('performer');
  });

  it('writes instances of one type with the same identity once (XCN authority in component 9)', () => {
    expect(of('Practitioner')).toHaveLength(1);
    expect(of('Practitioner')[0]?.request.url).toBe('Practitioner?identifier=urn%3Aoid%3A1.2.840.1|7');
    expect(new Set(bundle.entry.map((e) => e.fullUrl)).size).toBe(bundle.entry.length);
  });

  it('reads an EI identity with its authority in components 2 to 4', () => {
    expect(of('Appointment')[0]?.request.url).toBe('Appointment?identifier=urn%3Aoid%3A1.2.3|F77');
  });
});

describe('$this', () => {
  const lib = library([
    [
      'ei.yaml',
      'map: EI[Id]\nkind: datatype\noutput: json\nrules:\n  - { from: "1", to: value }\n  - { from: "2", to: system }\n',
    ],
    [
      'm.yaml',
      [
        'transformer: ids',
        'input: hl7v2',
        'output: json',
        'resources:',
        '  - name: order',
        '    segment: ORC',
        '    rules:',
        '      - to: "identifier[]"',
        '        when: { path: ORC-2, present: true }',
        '        rules:',
        '          - { from: ORC-2, to: $this, map: "EI[Id]" }',
        '          - { const: PLAC, to: "type.coding[0].code" }',
      ].join('\n'),
    ],
  ]);

  it('merges a sub-map result into the object being built', () => {
    const out = lib.get('ids').run(parse(['MSH|^~\\&|A||||20260101||ORM^O01|1|P|2.5.1', 'ORC|NW|77^CLINIC']));
    expect(out).toEqual({
      identifier: [{ value: '77', system: 'CLINIC', type: { coding: [{ code: 'PLAC' }] } }],
    });
  });
});

describe('a segment map applied to the current or following segments', () => {
  const lib = library([
    ['nte.yaml', 'map: NTE[Note]\nkind: segment\noutput: json\nrules:\n  - { from: NTE-3, to: text }\n'],
    [
      'obx.yaml',
      'map: OBX[Part]\nkind: segment\noutput: json\nrules:\n  - { from: OBX-5, to: value, when: { path: OBX-2, equals: ST } }\n',
    ],
    [
      'm.yaml',
      [
        'transformer: parts',
        'input: hl7v2',
        'output: json',
        'resources:',
        '  - name: obs',
        '    each: OBX',
        '    rules:',
        '      - { from: OBX, to: self, map: "OBX[Part]" }',
        '      - { from: NTE, following: NTE, to: "notes[]", map: "NTE[Note]" }',
        '  - name: doc',
        '    rules:',
        '      - { from: "OBX[*]", to: "parts[]", map: "OBX[Part]" }',
      ].join('\n'),
    ],
  ]);
  const out = lib
    .get('parts')
    .run(
      parse([
        'MSH|^~\\&|A||||20260101||MDM^T02|1|P|2.5.1',
        'OBX|1|ST|A||one',
        'NTE|1||n1',
        'OBX|2|HD|B||x',
        'OBX|3|ST|C||three',
        'PRT|1|AD||RO',
        'NTE|1||n3',
        'NTE|2||n3b',
      ]),
    ) as { obs: Array<{ self?: unknown; notes?: unknown[] }>; doc: { parts: unknown[] } };

  it('reads the segment itself by its own name; following looks past PRT', () => {
    expect(out.obs.map((o) => o.self)).toEqual([{ value: 'one' }, undefined, { value: 'three' }]);
    expect(out.obs.map((o) => o.notes)).toEqual([
      [{ text: 'n1' }],
      undefined,
      [{ text: 'n3' }, { text: 'n3b' }],
    ]);
  });

  it('maps every segment of a name from the message', () => {
    expect(out.doc.parts).toEqual([{ value: 'one' }, { value: 'three' }]);
  });
});

describe('a ref read from another segment', () => {
  const lib = library([
    [
      'aip.yaml',
      [
        'map: AIP[Appointment.participant]',
        'kind: segment',
        'rules:',
        '  - { ref: practitioner, to: actor }',
        '  - { from: AIP-4, to: "type[0].text" }',
      ].join('\n'),
    ],
    [
      'm.yaml',
      [
        'transformer: visit',
        'input: hl7v2',
        'output: fhir',
        'resources:',
        '  - name: appointment',
        '    type: Appointment',
        '    segment: SCH',
        '    rules:',
        '      - { from: "AIP[*]", to: "participant[]", map: "AIP[Appointment.participant]" }',
        '      - { ref: practitioner, to: "supportingInformation[]" }',
        '  - name: practitioner',
        '    type: Practitioner',
        '    each: AIP',
        '    rules:',
        '      - { from: AIP-3.2, to: "name[0].family" }',
      ].join('\n'),
    ],
  ]);

  it('lists only the instances made from that segment', () => {
    const bundle = lib
      .get('visit')
      .run(
        parse([
          'MSH|^~\\&|A||||20260101||SIU^S12|1|P|2.5.1',
          'SCH|1|2',
          'AIP|1||11^GREY|SURG',
          'AIP|2||12^YANG|ANES',
        ]),
      ) as TransactionBundle;
    const urls = bundle.entry.filter((e) => e.resource.resourceType === 'Practitioner').map((e) => e.fullUrl);
    const appointment = bundle.entry[0]?.resource as {
      participant: unknown[];
      supportingInformation: unknown[];
    };
    expect(appointment.participant).toEqual([
      { actor: { reference: urls[0] }, type: [{ text: 'SURG' }] },
      { actor: { reference: urls[1] }, type: [{ text: 'ANES' }] },
    ]);
    expect(appointment.supportingInformation).toEqual(urls.map((reference) => ({ reference })));
  });
});

describe('empty pieces', () => {
  const lib = library([
    [
      'm.yaml',
      [
        'transformer: empties',
        'input: hl7v2',
        'output: json',
        'resources:',
        '  - name: obs',
        '    segment: OBX',
        '    rules:',
        '      - { from: OBX-14.1, to: when, fn: hl7_datetime }',
        '      - { from: OBX-5.2, to: second, fn: number }',
        '      - { from: "OBX-6[*]", to: "units[]" }',
        '      - { from: OBX-7.1.2, to: sub }',
      ].join('\n'),
    ],
  ]);

  it('select nothing, so functions never see an empty or null component', () => {
    const out = lib
      .get('empties')
      .run(parse(['MSH|^~\\&|A||||20260101||ORU^R01|1|P|2.5.1', 'OBX|1|NM|X||1^""|~mg~|a&&b|||||||^x']));
    expect(out).toEqual({ units: ['mg'] });
  });
});

describe('rules reading each node a from selects', () => {
  const lib = library([
    [
      'value.yaml',
      [
        'map: varies[Value]',
        'kind: datatype',
        'output: json',
        'rules:',
        '  - { from: ., to: valueQuantity.value, fn: number, when: { path: OBX-2, equals: NM } }',
        '  - { from: OBX-6, to: valueQuantity.unit, when: { path: OBX-2, equals: NM } }',
        '  - { from: ., to: valueString, when: { path: OBX-2, equals: ST } }',
      ].join('\n'),
    ],
    [
      'm.yaml',
      [
        'transformer: parts',
        'input: hl7v2',
        'output: json',
        'resources:',
        '  - name: obs',
        '    each: OBX',
        '    rules:',
        '      - { from: OBX-5, to: $this, map: "varies[Value]", when: { path: "OBX-5[2]", present: false } }',
        '      - from: "OBX-5[*]"',
        '        to: "component[]"',
        '        when: { path: "OBX-5[2]", present: true }',
        '        rules:',
        '          - { from: OBX-3, to: code }',
        '          - { from: ., to: $this, map: "varies[Value]" }',
      ].join('\n'),
    ],
  ]);

  it('builds one object per repetition; segment paths inside read the repetition’s segment', () => {
    const out = lib
      .get('parts')
      .run(
        parse([
          'MSH|^~\\&|A||||20260101||ORU^R01|1|P|2.5.1',
          'OBX|1|NM|SYS||120~80|mm[Hg]',
          'OBX|2|ST|NOTE||fine',
        ]),
      ) as { obs: unknown[] };
    expect(out.obs).toEqual([
      {
        component: [
          { code: 'SYS', valueQuantity: { value: 120, unit: 'mm[Hg]' } },
          { code: 'SYS', valueQuantity: { value: 80, unit: 'mm[Hg]' } },
        ],
      },
      { valueString: 'fine' },
    ]);
  });
});
