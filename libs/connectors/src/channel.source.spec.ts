import { builtInRegistries, compileChannel, formatProblem } from '@sinew/channels';

const registries = builtInRegistries();
const env = { values: {}, strict: true };

function problems(text: string): string[] {
  return compileChannel(text, 'c.yaml', registries, { env }).problems.map(formatProblem);
}

describe('channel source and destination in a channel file', () => {
  it('compiles a channel fed by another, checking its destinations against content_types', () => {
    const text = `id: ehr-outbound
source: { type: channel, from: [intake], content_types: [fhir] }
destinations:
  - name: ehr
    type: fhir
    base_url: http://127.0.0.1:1/fhir
    retry: { attempts: 3 }
  - name: next
    type: channel
    channel: archive
    retry: { attempts: 3 }
`;
    expect(problems(text)).toEqual([]);
    // HL7 v2 may arrive when content_types allows it: a fhir destination is then told so.
    expect(problems(text.replace('[fhir]', '[fhir, hl7v2]')).join('\n')).toMatch(
      /payload\.destination.*hl7v2 reaches it/,
    );
  });

  it('names what is missing instead of failing when the source settings are wrong', () => {
    const found = problems(`id: b
source: { type: channel }
destinations:
  - name: out
    type: channel
    channel: not a channel id
    retry: { attempts: 3 }
`);
    expect(found.join('\n')).toMatch(/source\.from/);
    expect(found.join('\n')).toMatch(/destinations\.0\.channel.*a channel id/);
  });
});
