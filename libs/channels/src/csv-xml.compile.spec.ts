import { compileChannel } from './compile';
import { formatProblem } from './problem';
import { builtInRegistries } from './registries';

const registries = builtInRegistries();

function lines(text: string): string[] {
  return compileChannel(text, 'c.yaml', registries, { env: { values: {}, strict: true } }).problems.map(
    formatProblem,
  );
}

const channel = (contentType: string, body: string) => `id: pms
source:
  type: file
  directory: /var/sinew/in
  content_type: ${contentType}
${body}`;

describe('csv and xml messages in the channel compiler', () => {
  it('accepts a csv channel: a FHIRPath filter on a column, a csv map, a FHIR destination', () => {
    expect(
      lines(
        channel(
          'csv\n  csv: { delimiter: ";", header: true, encoding: windows-1252 }',
          `pipeline:
  - filter: { fhirpath: "patient_id.exists()" }
  - map: { transformer: pms-patient-csv-to-fhir }
destinations:
  - { name: ehr, type: fhir, base_url: 'http://127.0.0.1:1/fhir', retry: { attempts: 1 } }
`,
        ),
      ),
    ).toEqual([]);
  });

  it('refuses csv into an mllp destination, which sends HL7 v2 only', () => {
    expect(
      lines(
        channel(
          'csv',
          `destinations:
  - { name: lab, type: mllp, url: 'mllp://127.0.0.1:2575', retry: { attempts: 1 } }
`,
        ),
      ),
    ).toEqual([
      'c.yaml:7:24 error payload.destination destinations.0.type: a mllp destination sends hl7v2, but csv reaches it',
    ]);
  });

  it('passes xml as it came to a file destination', () => {
    expect(
      lines(
        channel(
          'xml',
          `destinations:
  - { name: archive, type: file, directory: /tmp/archive, retry: { attempts: 1 } }
`,
        ),
      ),
    ).toEqual([]);
  });

  it('refuses a csv map for xml messages, and csv settings for another content type', () => {
    expect(
      lines(
        channel(
          'xml',
          `pipeline:
  - map: { transformer: pms-patient-csv-to-fhir }
destinations:
  - { name: ehr, type: fhir, base_url: 'http://127.0.0.1:1/fhir', retry: { attempts: 1 } }
`,
        ),
      ),
    ).toEqual([
      'c.yaml:7:25 error payload.transformer_input pipeline.0.map.transformer: transformer pms-patient-csv-to-fhir reads csv, but xml messages reach it',
    ]);
    expect(
      lines(
        channel(
          'xml\n  csv: { delimiter: ";" }',
          'destinations:\n  - { name: archive, type: file, directory: /tmp/a, retry: { attempts: 1 } }\n',
        ),
      ),
    ).toEqual([expect.stringContaining('csv applies to delimited text files only (content_type: csv)')]);
  });
});
