import { BundleIndex, FhirRun } from './bundle-refs';
import { MappingError, MappingErrorCode } from './errors';
import { parseTransformerFile } from './loader';
import { TransformerLibrary } from './library';
import { FhirNode } from './source';

/** A Bundle whose resources reference each other by every form a reference takes. */
function bundle() {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      {
        fullUrl: 'urn:uuid:6f1c1a9e-0000-4000-8000-000000000001',
        resource: {
          resourceType: 'Patient',
          id: 'p1',
          name: [{ family: 'ByUuid' }],
          link: [{ other: { reference: 'Patient/p2' }, type: 'seealso' }],
        },
      },
      {
        fullUrl: 'http://ehr.example.org/fhir/Patient/p2',
        resource: {
          resourceType: 'Patient',
          id: 'p2',
          name: [{ family: 'ByUrl' }],
          link: [{ other: { reference: 'urn:uuid:6f1c1a9e-0000-4000-8000-000000000001' }, type: 'seealso' }],
        },
      },
      {
        fullUrl: 'urn:uuid:6f1c1a9e-0000-4000-8000-000000000003',
        resource: {
          resourceType: 'Appointment',
          status: 'booked',
          contained: [{ resourceType: 'Location', id: 'room', name: 'Room 1' }],
          participant: [
            { actor: { reference: 'urn:uuid:6f1c1a9e-0000-4000-8000-000000000001' } },
            { actor: { reference: 'http://ehr.example.org/fhir/Patient/p2' } },
            { actor: { reference: '#room' } },
            { actor: { reference: 'Practitioner/not-in-the-bundle' } },
            { actor: { reference: 'urn:uuid:6f1c1a9e-0000-4000-8000-000000000009' } },
          ],
        },
      },
    ],
  };
}

const read = (node: FhirNode, path: string): unknown[] => node.select(path).map((n) => n.value());

describe('resolve() in FHIR paths: references within the input Bundle', () => {
  const appointment = 'entry.resource.ofType(Appointment).participant';

  it('follows urn:uuid fullUrls, absolute fullUrls, relative Type/id and contained #id references', () => {
    const input = bundle();
    const node = new FhirNode(input, 'Bundle', new FhirRun(input));
    expect(read(node, `${appointment}[0].actor.resolve().name.family`)).toEqual(['ByUuid']);
    expect(read(node, `${appointment}[1].actor.resolve().name.family`)).toEqual(['ByUrl']);
    expect(read(node, `${appointment}[2].actor.resolve().name`)).toEqual(['Room 1']);
    expect(read(node, 'entry[0].resource.link.other.resolve().name.family')).toEqual(['ByUrl']);
    // inside a function's arguments too
    expect(read(node, `${appointment}.where(actor.resolve() is Location).actor.reference`)).toEqual([
      '#room',
    ]);
    expect(read(node, `${appointment}.actor.resolve().ofType(Patient).id`)).toEqual(['p1', 'p2']);
  });

  it('yields nothing for a reference to a resource the Bundle does not hold; notes the urn: ones', () => {
    const input = bundle();
    const run = new FhirRun(input);
    const node = new FhirNode(input, 'Bundle', run);
    for (const i of [3, 4]) {
      expect(read(node, `${appointment}[${i}].actor.resolve()`)).toEqual([]);
      expect(read(node, `${appointment}[${i}].actor.resolve().name`)).toEqual([]);
      expect(read(node, `${appointment}[${i}].actor.resolve().ofType(Practitioner)`)).toEqual([]);
    }
    // Practitioner/… may be on a server; a urn:uuid: reference can only be in the Bundle.
    expect(run.unresolved).toEqual([{ where: 'Appointment.participant[4].actor' }]);
  });

  it('reads the whole input as %rootResource from any node', () => {
    const input = bundle();
    const node = new FhirNode(input, 'Bundle', new FhirRun(input));
    const appointment = node.select('entry.resource.ofType(Appointment)')[0] as FhirNode;
    expect(
      read(appointment, "%rootResource.entry.resource.ofType(Patient).where(id = 'p2').name.family"),
    ).toEqual(['ByUrl']);
  });

  it('follows a cycle one step at a time, and leaves the input as it came', () => {
    const input = bundle();
    const before = JSON.stringify(input);
    const node = new FhirNode(input, 'Bundle', new FhirRun(input));
    expect(read(node, 'entry[0].resource.link.other.resolve().link.other.resolve().id')).toEqual(['p1']);
    expect(
      read(node, 'entry[0].resource.link.other.resolve().link.other.resolve().link.other.resolve().id'),
    ).toEqual(['p2']);
    expect(JSON.stringify(input)).toBe(before);
    const actor = input.entry[2]?.resource.participant?.[0]?.actor as object;
    expect(Object.getOwnPropertyDescriptor(actor, 'resource')).toBeUndefined();
  });

  it('matches a relative reference to a resource by its type and id, and an absolute one only by fullUrl', () => {
    const index = new BundleIndex(bundle());
    expect(index.find('Patient/p1')?.resource.id).toBe('p1');
    expect(index.find('Patient/p2/_history/3')?.resource.id).toBe('p2');
    expect(index.find('http://ehr.example.org/fhir/Patient/p2')?.where).toBe('Bundle.entry[1].resource');
    expect(index.find('http://elsewhere.example.org/fhir/Patient/p2')).toBeUndefined();
    expect(index.find('urn:uuid:6f1c1a9e-0000-4000-8000-000000000009')).toBeUndefined();
    expect(index.find('Patient/p3')).toBeUndefined();
  });
});

const MAP = `
transformer: appointment-patient
input: fhir
output: json
params:
  label: { default: patient, description: a label written beside the name }
  copies: { type: integer, default: 1 }
  flagged: { type: boolean, default: false }
resources:
  - name: patient
    each: entry.resource.ofType(Appointment).participant.actor.resolve().ofType(Patient)
    rules:
      - { from: name.family, to: family }
      - { from: '%label', to: label }
      - { from: '%copies', to: copies }
      - { from: "iif(%flagged, 'yes', 'no')", to: flagged }
`;

function library(text = MAP): TransformerLibrary {
  return TransformerLibrary.fromFiles([parseTransformerFile(text, 'appointment-patient.yaml')]);
}

describe('map parameters', () => {
  const t = () => library().get('appointment-patient');

  it('take their defaults when none is given', () => {
    expect(t().run(bundle())).toEqual({
      patient: [
        { family: 'ByUuid', label: 'patient', copies: 1, flagged: 'no' },
        { family: 'ByUrl', label: 'patient', copies: 1, flagged: 'no' },
      ],
    });
  });

  it('take the values a run or a binding gives, text read as the declared type', () => {
    const out = t().run(bundle(), { params: { label: 'subject', copies: '2', flagged: 'true' } });
    expect(out).toMatchObject({ patient: [{ label: 'subject', copies: 2, flagged: 'yes' }, {}] });
    const bound = t().withParams({ copies: 3 });
    expect(bound.boundName).toBe('appointment-patient?copies=3');
    expect(bound.run(bundle())).toMatchObject({ patient: [{ copies: 3, label: 'patient' }, {}] });
    // A run's own values win over the bound ones.
    expect(bound.run(bundle(), { params: { copies: 4 } })).toMatchObject({ patient: [{ copies: 4 }, {}] });
  });

  it('refuse unknown names, values of another type and values outside enum', () => {
    expect(() => t().run(bundle(), { params: { lable: 'x' } })).toThrow(
      'appointment-patient: no parameter named lable (the map takes label, copies, flagged)',
    );
    expect(() => t().withParams({ copies: 'two' })).toThrow(
      'parameter copies is integer: "two" is not an integer',
    );
    const adt = TransformerLibrary.load().get('patient-to-adt');
    expect(() => adt.withParams({ event: 'A01' })).toThrow('parameter event is one of A31, A28, not "A01"');
    try {
      adt.run({ resourceType: 'Patient' }, { params: { event: true } });
    } catch (err) {
      expect((err as { code?: string }).code).toBe(MappingErrorCode.Param);
    }
  });

  it('are checked where the map reads them, with the file position', () => {
    let thrown: unknown;
    try {
      library(MAP.replace("'%label'", "'%lable'"));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MappingError);
    const err = thrown as MappingError;
    expect(err.code).toBe(MappingErrorCode.Path);
    expect(err.message).toBe(
      '%lable: the map declares no parameter lable (it has %label, %copies, %flagged)',
    );
    expect(err.location).toMatchObject({ file: 'appointment-patient.yaml', line: 14, column: 17 });
  });

  it('a parameter without a default must be given', () => {
    const lib = library(MAP.replace('label: { default: patient,', 'label: {'));
    expect(() => lib.get('appointment-patient').run(bundle())).toThrow(
      'parameter label has no default: give a value',
    );
  });
});

describe('patient-to-adt: one map for ADT^A31 and ADT^A28', () => {
  const adt = TransformerLibrary.load().get('patient-to-adt');
  const patient = { resourceType: 'Patient', identifier: [{ value: 'MRN-1' }], name: [{ family: 'Test' }] };
  const header = (params?: Record<string, string>) => {
    const msg = adt.run(patient, { now: new Date(Date.UTC(2026, 0, 1)), params }) as {
      get(path: string): string;
    };
    return [msg.get('MSH-9'), msg.get('EVN-1')];
  };

  it('builds an A31 by default and an A28 with event: A28', () => {
    expect(header()).toEqual(['ADT^A31^ADT_A05', 'A31']);
    expect(header({ event: 'A31' })).toEqual(['ADT^A31^ADT_A05', 'A31']);
    expect(header({ event: 'A28' })).toEqual(['ADT^A28^ADT_A05', 'A28']);
  });

  it('warns, and still converts, when a resolve() finds nothing', () => {
    const lib = TransformerLibrary.fromFiles([
      parseTransformerFile(
        `transformer: x
input: fhir
output: json
resources:
  - name: o
    rules:
      - { from: "entry.resource.ofType(Appointment).participant.actor.resolve().ofType(Patient).name.family", to: family }
      - { from: "entry.resource.ofType(Appointment).status", to: status }
`,
        'x.yaml',
      ),
    ]);
    const { output, warnings } = lib.get('x').runWithIssues(bundle());
    expect(output).toEqual({ family: 'ByUuid', status: 'booked' });
    expect(warnings).toEqual([
      {
        code: MappingErrorCode.Unresolved,
        message: 'the reference points to no resource of the input; nothing was read through it',
        source: 'Appointment.participant[4].actor',
      },
    ]);
  });
});
