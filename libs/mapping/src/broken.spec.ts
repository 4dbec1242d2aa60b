import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MappingError, parseTransformerFile, TransformerLibrary } from '@sinew/mapping';

/** Each file under libs/mapping/test/broken/ holds one mistake that must stop the load. */
const BROKEN = join(__dirname, '..', 'test', 'broken');

function loadError(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    if (err instanceof MappingError) return err.toString();
    throw err;
  }
  throw new Error('the transformer loaded');
}

const loadFile = (name: string) =>
  loadError(() => {
    const path = join(BROKEN, name);
    TransformerLibrary.fromFiles([
      parseTransformerFile(readFileSync(path, 'utf8'), relative(process.cwd(), path)),
    ]);
  });

const at = (name: string) => relative(process.cwd(), join(BROKEN, name));

describe('a broken transformer file is refused at load, at the exact YAML node', () => {
  it.each([
    [
      'resource-type.yaml',
      '6:11: map.fhir_type: Patinet is not a FHIR R4 resource type: did you mean Patient?',
    ],
    [
      'element.yaml',
      '9:13: map.fhir_element: Patient has no element extention in FHIR R4: did you mean extension?',
    ],
    [
      'nested-element.yaml',
      '13:30: map.fhir_element: HumanName has no element givne in FHIR R4: did you mean given?',
    ],
    [
      'list.yaml',
      '9:30: map.fhir_element: Patient.name is a list in FHIR R4: write name[] (a new item) or name[0]',
    ],
    ['datatype-type.yaml', '1:6: map.fhir_type: Identifer is not a FHIR R4 type: did you mean Identifier?'],
    [
      'from.yaml',
      '10:17: map.path: "PID 8" is not an HL7 path (expected e.g. PID-3, PID-3[2].1, OBX[3]-5, MSH-9.2)',
    ],
    [
      'datatype-from.yaml',
      '5:13: map.path: "CX.4" is not an HL7 path (expected e.g. PID-3, PID-3[2].1, OBX[3]-5, MSH-9.2)',
    ],
    [
      'component-in-segment.yaml',
      '5:13: map.path: "8" reads inside a field value; these rules read a PID segment: write PID-8',
    ],
    ['to.yaml', '9:30: map.path: "name[].family": [] (append) only on the last step'],
    [
      'hl7-to.yaml',
      '9:32: map.path: "PV1-7" is not a field of the PID segment being built (PID-5.1, PID-3[], 5.1)',
    ],
    [
      'fhirpath-from.yaml',
      '9:17: map.path: "identifier.where(" is not a FHIRPath expression: Cant consume unknown more tokens.',
    ],
    [
      'condition.yaml',
      '9:76: map.condition: when.all[1].matches: "([0-9]" is not a valid regular expression: Unterminated group',
    ],
    [
      'setting.yaml',
      '8:18: map.setting: the setting ${CLINIC_LAB_APPLICATION} is not set and has no default (write ${CLINIC_LAB_APPLICATION:-default})',
    ],
  ])('%s', (name, error) => {
    expect(loadFile(name)).toBe(`${at(name)}:${error}`);
  });

  it('mismatch/: a datatype map written where FHIR expects another type', () => {
    expect(loadError(() => TransformerLibrary.load([join(BROKEN, 'mismatch')]))).toBe(
      `${at('mismatch/patient.yaml')}:10:54: map.mismatch: XPN[HumanName] builds a HumanName; the element written holds an Identifier`,
    );
  });
});
