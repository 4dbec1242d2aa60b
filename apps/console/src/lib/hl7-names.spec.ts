import {
  componentDefinition,
  fieldDefinition,
  segmentDescription,
  typeDescription,
} from '../../../../libs/hl7v2/src/dictionary/dictionary';
import { namesAt, SEGMENTS, segmentName, TYPES } from './hl7-names';

/** Names compared as words: case, punctuation and spacing aside. */
const words = (s: string | undefined) => (s ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');

/** Where the console writes the standard's longer or shorter form of a name on purpose. */
const WORDED_DIFFERENTLY = new Set([
  'PD1-4',
  'IN1-28',
  'TXA-23',
  'XCN.5',
  'XCN.6',
  'XCN.7',
  'XPN.4',
  'XPN.5',
  'XPN.6',
]);

describe('the console’s HL7 v2.5.1 field names', () => {
  it('names the common segments', () => {
    for (const s of 'MSH EVN PID PD1 NK1 PV1 PV2 ORC OBR OBX NTE SPM AL1 DG1 IN1 SCH AIS AIG AIL AIP MRG TXA FT1 GT1'.split(
      ' ',
    ))
      expect(SEGMENTS[s]?.length).toBeGreaterThan(4);
  });

  it('agrees with the engine’s dictionary of the standard, field by field and component by component', () => {
    const differ: string[] = [];
    const check = (where: string, entry: string, def: { name: string; type: string } | undefined) => {
      const at = entry.lastIndexOf(':');
      if (WORDED_DIFFERENTLY.has(where)) {
        if (def?.type !== entry.slice(at + 1)) differ.push(`${where}: type ${entry} vs ${def?.type}`);
        return;
      }
      if (!def || words(def.name) !== words(entry.slice(0, at)) || def.type !== entry.slice(at + 1))
        differ.push(`${where}: ${entry} vs ${def?.name}:${def?.type}`);
    };
    for (const [seg, list] of Object.entries(SEGMENTS)) {
      if (words(list[0]) !== words(segmentDescription(seg))) differ.push(`${seg}: ${list[0]}`);
      list.slice(1).forEach((e, i) => check(`${seg}-${i + 1}`, e, fieldDefinition(seg, i + 1)));
    }
    for (const [type, list] of Object.entries(TYPES)) {
      if (words(list[0]) !== words(typeDescription(type))) differ.push(`${type}: ${list[0]}`);
      list.slice(1).forEach((e, i) => check(`${type}.${i + 1}`, e, componentDefinition(type, i + 1)));
    }
    expect(differ).toEqual([]);
  });

  it('names a position along its path', () => {
    expect(segmentName('PID')).toBe('Patient identification');
    expect(segmentName('ZZZ')).toBeUndefined();
    expect(namesAt('PID', 5, 1)).toEqual({
      field: { name: 'Patient name', type: 'XPN' },
      component: { name: 'Family name', type: 'FN' },
    });
    expect(namesAt('PID', 3, 4, 2).subcomponent).toEqual({ name: 'Universal ID', type: 'ST' });
    expect(namesAt('MSH', 10).field?.name).toBe('Message control ID');
    // OBX-5 takes its type from OBX-2.
    expect(namesAt('OBX', 5, 2, undefined, 'CE').component?.name).toBe('Text');
    expect(namesAt('OBX', 5, 2).component).toBeUndefined();
    expect(namesAt('PID', 99)).toEqual({});
  });
});
