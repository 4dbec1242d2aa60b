import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { corpusFiles } from '@sinew/test-support';
import {
  messageStructureInfo,
  supportedStructures,
  validateStructure,
  type StructureOptions,
} from './structure';
import { compileGrammar, GrammarError } from './structure.grammar';
import { STRUCTURES } from './structure.data';

/**
 * A message of `type` and `version` whose segments after MSH are `segments`, space-separated:
 * a bare name becomes `XXX|1`, a segment with fields is kept as written.
 */
function message(type: string, version: string, segments: string): Hl7Message {
  const lines = [`MSH|^~\\&|APP|FAC|APP|FAC|20240101120000||${type}|CTRL1|P|${version}`];
  for (const s of segments.split(/\s+/).filter(Boolean)) lines.push(s.includes('|') ? s : `${s}|1`);
  return Hl7Message.parse(lines.join('\r'));
}

/** Structure issues only (required fields off), as `code location`. */
function structureIssues(
  type: string,
  version: string,
  segments: string,
  options: StructureOptions = {},
): string[] {
  return validateStructure(message(type, version, segments), { requiredFields: false, ...options }).map(
    (i) => `${i.code} ${i.location}`,
  );
}

describe('validateStructure: the corpus', () => {
  const SUPPORTED = /^(ADT-A0[1348]|ADT-A11|ADT-A40|ORU-R01|SIU-S1[2-5]|DFT-P03|ORM-O01|MDM-T02|VXU-V04)-/;
  const files = corpusFiles('fhir-converter-01/hl7v2-samples', (n) => n.endsWith('.hl7'));
  const supported = files.filter((f) => SUPPORTED.test(basename(f)));

  /** Required fields the samples leave empty, which the standard requires in every version. */
  const KNOWN_GAPS: Record<string, string[]> = {
    // The ORDER_DOCUMENT OBX carries only a value: no observation identifier, no status.
    'ORU-R01-01.hl7': ['OBX[2]-3', 'OBX[2]-11'],
    // No end-of-administration time.
    'VXU-V04-01.hl7': ['RXA-4'],
  };

  it('holds every supported message type', () => {
    expect(supported.map((f) => basename(f).slice(0, 7)).sort()).toEqual(
      [
        'ADT-A01',
        'ADT-A03',
        'ADT-A04',
        'ADT-A08',
        'ADT-A11',
        'ADT-A40',
        'DFT-P03',
        'MDM-T02',
        'ORM-O01',
        'ORU-R01',
        'SIU-S12',
        'SIU-S13',
        'SIU-S14',
        'SIU-S15',
        'VXU-V04',
      ].sort(),
    );
  });

  it.each(supported.map((f) => [basename(f), f]))('%s has no structure errors', (name, file) => {
    const issues = validateStructure(Hl7Message.parse(readFileSync(file)));
    expect(issues.filter((i) => i.severity === 'error' && i.code.startsWith('hl7.structure'))).toEqual([]);
    expect(issues.filter((i) => i.code === 'hl7.required').map((i) => i.location)).toEqual(
      KNOWN_GAPS[name] ?? [],
    );
  });

  it('the ORU sample, labelled 2.5.1, carries v2.7+ segments: one version warning', () => {
    const file = supported.find((f) => basename(f).startsWith('ORU-R01')) as string;
    const issues = validateStructure(Hl7Message.parse(readFileSync(file)));
    expect(issues.filter((i) => i.code.startsWith('hl7.structure'))).toEqual([
      expect.objectContaining({ severity: 'warning', code: 'hl7.structure.version', location: 'MSH-12' }),
    ]);
    expect(
      validateStructure(Hl7Message.parse(readFileSync(file)), { strictVersion: true }).some(
        (i) => i.severity === 'error' && i.code.startsWith('hl7.structure'),
      ),
    ).toBe(true);
  });

  it('other message types get one hl7.structure.unknown warning', () => {
    for (const f of files.filter((x) => /^(ADT-A02|BAR-P01|OML-O21|RDE-O11)-/.test(basename(x)))) {
      const issues = validateStructure(Hl7Message.parse(readFileSync(f)));
      expect(issues.filter((i) => i.code.startsWith('hl7.structure'))).toEqual([
        expect.objectContaining({ severity: 'warning', code: 'hl7.structure.unknown', location: 'MSH-9' }),
      ]);
    }
  });
});

describe('validateStructure: broken messages', () => {
  it('missing PID', () => {
    const issues = validateStructure(message('ADT^A01^ADT_A01', '2.5.1', 'EVN PV1'), {
      requiredFields: false,
    });
    expect(issues).toEqual([
      {
        severity: 'error',
        code: 'hl7.structure.missing_segment',
        location: 'PID',
        line: 3,
        message: 'PID is missing: the ADT_A01 structure (v2.5.1) requires it before PV1 (line 3)',
      },
    ]);
  });

  it('OBX before OBR', () => {
    const issues = validateStructure(message('ORU^R01', '2.5.1', 'PID PV1 OBX OBR OBX'), {
      requiredFields: false,
    });
    expect(issues).toEqual([
      {
        severity: 'error',
        code: 'hl7.structure.order',
        location: 'OBX',
        line: 4,
        message:
          'OBX at line 4 is out of order: the ORU_R01 structure (v2.5.1) does not allow OBX after PV1 (line 3)',
      },
    ]);
    expect(structureIssues('ORU^R01', '2.3', 'PID OBX OBR')).toEqual(['hl7.structure.order OBX']);
  });

  it('missing MSH-10', () => {
    const msg = message('ADT^A01', '2.5.1', 'EVN|A01|20240101 PID|1||123||DOE PV1|1|I');
    msg.set('MSH-10', '');
    expect(validateStructure(Hl7Message.parse(msg.toString()))).toEqual([
      { severity: 'error', code: 'hl7.required', location: 'MSH-10', line: 1, message: 'MSH-10 is required' },
    ]);
  });

  it('an order without OBR, and one of two orders without OBR', () => {
    expect(structureIssues('ORU^R01', '2.5.1', 'PID ORC OBX')).toEqual(['hl7.structure.missing_segment OBR']);
    expect(structureIssues('ORU^R01', '2.5.1', 'PID OBX')).toEqual(['hl7.structure.missing_segment OBR']);
    expect(structureIssues('ORU^R01', '2.5.1', 'PID ORC OBR OBX ORC OBX')).toEqual([
      'hl7.structure.missing_segment OBR',
    ]);
    const [missing] = validateStructure(message('ORU^R01', '2.5.1', 'PID ORC OBX'), {
      requiredFields: false,
    });
    expect(missing?.message).toBe(
      'OBR (in ORDER_OBSERVATION) is missing: the ORU_R01 structure (v2.5.1) requires it before OBX (line 4)',
    );
  });

  it('segments missing at the end', () => {
    expect(structureIssues('ORU^R01', '2.5.1', '')).toEqual(['hl7.structure.missing_segment OBR']);
    const issues = validateStructure(message('ADT^A40^ADT_A39', '2.3', 'EVN PID'), { requiredFields: false });
    expect(issues).toEqual([
      {
        severity: 'error',
        code: 'hl7.structure.missing_segment',
        location: 'MRG',
        message: 'MRG (in PATIENT) is missing: the ADT_A39 structure (v2.3) requires it after PID (line 3)',
      },
    ]);
    expect(structureIssues('ACK', '2.5', '')).toEqual(['hl7.structure.missing_segment MSA']);
  });

  it('unexpected segments: not in the structure, or one too many', () => {
    expect(
      validateStructure(message('ADT^A01', '2.5.1', 'EVN PID PV1 OBR'), { requiredFields: false }),
    ).toEqual([
      {
        severity: 'error',
        code: 'hl7.structure.unexpected_segment',
        location: 'OBR',
        line: 5,
        message: 'OBR at line 5 is not part of the ADT_A01 structure (v2.5.1)',
      },
    ]);
    expect(structureIssues('ADT^A01', '2.5.1', 'EVN PID PV1 PID')).toEqual([
      'hl7.structure.unexpected_segment PID[2]',
    ]);
    expect(structureIssues('ADT^A01', '2.5.1', 'EVN PID PV1 PV2 PV2')).toEqual([
      'hl7.structure.unexpected_segment PV2[2]',
    ]);
  });

  it('a segment out of place', () => {
    expect(structureIssues('ADT^A01', '2.5.1', 'EVN PID AL1 PV1')).toEqual(['hl7.structure.order AL1']);
    expect(structureIssues('ADT^A01', '2.5.1', 'EVN PID PV1 AL1 DG1 AL1')).toEqual([
      'hl7.structure.order AL1[2]',
    ]);
    expect(structureIssues('SIU^S12', '2.5.1', 'SCH RGS PID AIS')).toEqual(['hl7.structure.order PID']);
  });

  it('Z-segments may stand anywhere', () => {
    expect(structureIssues('ADT^A01', '2.5.1', 'ZZ1 EVN ZPI PID PV1 ZPV')).toEqual([]);
    expect(structureIssues('ORU^R01', '2.5.1', 'PID ZP1 OBR ZB1 OBX ZX1 ZX1 OBX')).toEqual([]);
  });

  it('valid messages of every supported type', () => {
    const cases: Array<[string, string, string]> = [
      ['ADT^A01', '2.3', 'EVN PID NK1 NK1 PV1 OBX AL1 DG1 PR1 ROL GT1 IN1 IN2 IN1'],
      [
        'ADT^A04',
        '2.5.1',
        'SFT EVN PID PD1 ROL NK1 PV1 PV2 ROL DB1 OBX AL1 DG1 DRG PR1 ROL GT1 IN1 IN2 IN3 ROL ACC UB1 UB2 PDA',
      ],
      ['ADT^A08', '2.4', 'EVN PID PV1'],
      ['ADT^A03', '2.5', 'EVN PID NK1 PV1 AL1 DG1 OBX GT1 IN1 ACC'],
      ['ADT^A11', '2.3.1', 'EVN PID PD1 PV1 PV2 DB1 OBX DG1'],
      ['ADT^A40', '2.5.1', 'EVN PID PD1 MRG PV1 PID MRG'],
      ['ORU^R01', '2.3', 'PID NTE PV1 ORC OBR NTE OBX NTE OBX OBR NTE'],
      ['ORU^R01', '2.4', 'PID PD1 NK1 NTE PV1 PV2 ORC OBR CTD OBX FT1 CTI PID OBR OBX'],
      ['ORU^R01', '2.5.1', 'SFT PID PV1 ORC OBR NTE TQ1 TQ2 OBX NTE OBX SPM OBX OBX OBR OBX DSC'],
      ['SIU^S12', '2.3', 'SCH NTE PID PV1 OBX DG1 RGS AIS NTE AIG AIL NTE AIP RGS AIL'],
      ['SIU^S14', '2.5.1', 'SCH TQ1 NTE PID PD1 PV1 RGS AIS AIP'],
      ['DFT^P03', '2.3', 'EVN PID PV1 FT1 PR1 ROL FT1 DG1 GT1 IN1'],
      ['DFT^P03', '2.5.1', 'EVN PID PV1 ORC TQ1 OBR NTE OBX FT1 NTE PR1 ORC OBR OBX FT1 DG1 IN1 IN2'],
      ['ORM^O01', '2.3', 'NTE PID PV1 IN1 GT1 AL1 ORC OBR NTE DG1 OBX NTE CTI BLG ORC RXO'],
      ['ORM^O01', '2.5.1', 'PID PV1 ORC OBR CTD DG1 OBX FT1 CTI BLG ORC'],
      ['MDM^T02', '2.3', 'EVN PID PV1 TXA OBX OBX'],
      ['MDM^T02', '2.5.1', 'EVN PID PV1 ORC TQ1 OBR NTE TXA OBX NTE OBX'],
      ['VXU^V04', '2.3', 'PID NK1 RXA RXR OBX RXA'],
      ['VXU^V04', '2.5.1', 'SFT PID PD1 NK1 PV1 GT1 IN1 ORC TQ1 RXA RXR OBX NTE ORC RXA'],
      ['ACK^A01^ACK', '2.3', 'MSA ERR'],
      ['ACK', '2.5.1', 'MSA ERR ERR'],
    ];
    for (const [type, version, segs] of cases) {
      expect([type, version, structureIssues(type, version, segs)]).toEqual([type, version, []]);
    }
  });
});

describe('validateStructure: versions', () => {
  it('required fields differ by version (MSH-7 from 2.4, ERR-1 before 2.5, EVN-1 in 2.3)', () => {
    const required = (version: string, segments: string, blank: string[]) => {
      const msg = message('ADT^A01', version, segments);
      for (const path of blank) msg.set(path, '');
      return validateStructure(Hl7Message.parse(msg.toString()))
        .filter((i) => i.code === 'hl7.required')
        .map((i) => i.location);
    };
    expect(required('2.3', 'EVN|A01|20240101 PID|1||1||X PV1|1|I', ['MSH-7'])).toEqual([]);
    expect(required('2.4', 'EVN|A01|20240101 PID|1||1||X PV1|1|I', ['MSH-7'])).toEqual(['MSH-7']);
    expect(required('2.3', 'EVN||20240101 PID|1||1||X PV1|1|I', [])).toEqual(['EVN-1']);
    expect(required('2.5', 'EVN||20240101 PID|1||1||X PV1|1|I', [])).toEqual([]);
    expect(required('2.5.1', 'EVN|A01|20240101 PID|1 PV1|1|I', [])).toEqual(['PID-3', 'PID-5']);
    const ack = (version: string) =>
      validateStructure(message('ACK', version, 'MSA|AE|X ERR|1|1'))
        .filter((i) => i.code === 'hl7.required')
        .map((i) => i.location);
    expect(ack('2.4')).toEqual([]);
    expect(ack('2.5')).toEqual(['ERR-3', 'ERR-4']);
  });

  it('structures differ by version', () => {
    // SFT arrived in 2.5; AL1 joined ADT_A03 in 2.5; ORC became required in VXU_V04 in 2.5.
    expect(structureIssues('ADT^A01', '2.4', 'SFT EVN PID PV1', { strictVersion: true })).toEqual([
      'hl7.structure.unexpected_segment SFT',
    ]);
    expect(structureIssues('ADT^A01', '2.5', 'SFT EVN PID PV1')).toEqual([]);
    expect(structureIssues('ADT^A03', '2.3', 'EVN PID PV1 AL1', { strictVersion: true })).toEqual([
      'hl7.structure.unexpected_segment AL1',
    ]);
    expect(structureIssues('ADT^A03', '2.5', 'EVN PID PV1 AL1')).toEqual([]);
    expect(structureIssues('VXU^V04', '2.4', 'PID RXA')).toEqual([]);
    expect(structureIssues('VXU^V04', '2.5', 'PID RXA')).toEqual(['hl7.structure.missing_segment ORC']);
    // In v2.7+ an ORU may carry patient-level OBX before any OBR.
    expect(structureIssues('ORU^R01', '2.8', 'PID OBX PRT OBR OBX')).toEqual([]);
  });

  it('a message fitting only a later version gets one warning, unless strict', () => {
    expect(
      validateStructure(message('ADT^A01', '2.4', 'SFT EVN PID PV1'), { requiredFields: false }).map((i) => [
        i.severity,
        i.code,
        i.message,
      ]),
    ).toEqual([
      [
        'warning',
        'hl7.structure.version',
        'MSH-12 says 2.4, but the segments fit only the ADT_A01 structure of v2.5: checked against that',
      ],
    ]);
  });

  it('versions without structures: older, newer, missing', () => {
    expect(validateStructure(message('ADT^A01', '2.2', 'EVN PID PV1'), { requiredFields: false })).toEqual([
      expect.objectContaining({
        severity: 'warning',
        code: 'hl7.structure.version',
        message: 'no ADT_A01 structure is defined for v2.2: checked against v2.3',
      }),
    ]);
    expect(structureIssues('ADT^A01', '3.0', 'EVN PID PV1')).toEqual(['hl7.structure.version MSH-12']);
    expect(structureIssues('ADT^A01', '', 'EVN PID PV1')).toEqual(['hl7.structure.version MSH-12']);
    expect(structureIssues('ADT^A01', '2.9', 'EVN PID PV1')).toEqual([]);
  });
});

describe('validateStructure: message types', () => {
  it('MSH-9.3 decides when Sinew knows it; the trigger event otherwise', () => {
    expect(messageStructureInfo(message('ADT^A04^ADT_A01', '2.5.1', ''))).toEqual({
      structure: 'ADT_A01',
      version: '2.5',
      declaredVersion: '2.5.1',
    });
    expect(messageStructureInfo(message('ADT^A04^ADT_A04', '2.8', '')).structure).toBe('ADT_A01');
    expect(messageStructureInfo(message('ADT^A11', '2.3', '')).structure).toBe('ADT_A09');
    expect(messageStructureInfo(message('ADT^A40', '2.3.1', '')).structure).toBe('ADT_A39');
    expect(messageStructureInfo(message('SIU^S15', '2.4', '')).structure).toBe('SIU_S12');
    expect(messageStructureInfo(message('ACK^R01^ACK', '2.5', '')).structure).toBe('ACK');
    expect(messageStructureInfo(message('ACK', '2.3', '')).structure).toBe('ACK');
    expect(messageStructureInfo(message('ADT^A02', '2.5', '')).structure).toBeUndefined();
  });

  it('an unknown type is a warning; its fields are still checked', () => {
    const issues = validateStructure(message('ZZZ^Z01', '2.5', 'PID'));
    expect(issues.map((i) => [i.severity, i.code, i.location])).toEqual([
      ['warning', 'hl7.structure.unknown', 'MSH-9'],
      ['error', 'hl7.required', 'PID-3'],
      ['error', 'hl7.required', 'PID-5'],
    ]);
    expect(validateStructure(message('ZZZ^Z01', '2.5', 'PID'), { requiredFields: false })).toHaveLength(1);
  });

  it('an empty MSH-9', () => {
    const msg = message('ADT^A01', '2.5', 'EVN PID PV1');
    msg.set('MSH-9', '');
    const issues = validateStructure(Hl7Message.parse(msg.toString()), { requiredFields: false });
    expect(issues).toEqual([expect.objectContaining({ code: 'hl7.structure.unknown', location: 'MSH-9' })]);
  });
});

describe('structure grammars', () => {
  it('every structure of every version compiles, and its shortest message is valid', () => {
    const types: Record<string, string> = {
      ADT_A01: 'ADT^A01',
      ADT_A03: 'ADT^A03',
      ADT_A09: 'ADT^A11',
      ADT_A39: 'ADT^A40',
      ORU_R01: 'ORU^R01',
      SIU_S12: 'SIU^S12',
      DFT_P03: 'DFT^P03',
      ORM_O01: 'ORM^O01',
      MDM_T02: 'MDM^T02',
      VXU_V04: 'VXU^V04',
      ACK: 'ACK',
    };
    expect(supportedStructures().sort()).toEqual(Object.keys(types).sort());
    for (const [structure, entries] of Object.entries(STRUCTURES)) {
      for (const [version, source] of entries) {
        const g = compileGrammar(source);
        // Shortest path from the start to an end position.
        const parent = new Map<number, number>([[0, -1]]);
        const queue = [0];
        let end = -1;
        while (queue.length > 0 && end < 0) {
          const p = queue.shift() as number;
          if (g.final.has(p)) end = p;
          for (const q of g.follow[p] ?? []) {
            if (!parent.has(q)) {
              parent.set(q, p);
              queue.push(q);
            }
          }
        }
        const names: string[] = [];
        for (let p = end; p > 0; p = parent.get(p) as number) names.unshift(g.positions[p]?.name as string);
        expect(names[0]).toBe('MSH');
        expect([
          structure,
          version,
          structureIssues(types[structure] as string, version, names.slice(1).join(' ')),
        ]).toEqual([structure, version, []]);
      }
    }
  });

  it('groups, choices and names', () => {
    const g = compileGrammar('MSH [{ ORDER: ORC <OBR | RXO [RXR]> [{NTE}] }] [DSC]');
    expect(g.positions.map((p) => `${p.groups.join('/')}:${p.name}`)).toEqual([
      ':',
      ':MSH',
      'ORDER:ORC',
      'ORDER:OBR',
      'ORDER:RXO',
      'ORDER:RXR',
      'ORDER:NTE',
      ':DSC',
    ]);
    expect(g.follow[2]).toEqual([3, 4]);
    expect([...g.final].sort()).toEqual([1, 3, 4, 5, 6, 7]);
  });

  it.each(['MSH [PID', 'MSH PID]', 'MSH []', 'MSH <A01 | >', 'MSH pid', 'MSH < PID PV1', ''])(
    'refuses %j',
    (source) => {
      expect(() => compileGrammar(source)).toThrow(GrammarError);
    },
  );
});
