import { Hl7Message } from '@sinew/hl7v2';
import { MappingError, parseTransformerFile, TransformerLibrary } from '@sinew/mapping';

const VOCAB = [
  'vocabulary: Status',
  'target_system: http://example.org/status',
  'codes:',
  '  A: active',
  '  X: cancelled',
].join('\n');

const MAP = [
  'transformer: t',
  'input: hl7v2',
  'output: fhir',
  'resources:',
  '  - name: r',
  '    type: ServiceRequest',
  '    segment: ORC',
  '    rules:',
  '      - { const: order, to: intent }',
  '      - { from: ORC-5, to: status, vocab: Status, unmapped: default, default: unknown }',
].join('\n');

const build = (...supplements: string[]) =>
  TransformerLibrary.fromFiles([
    parseTransformerFile(VOCAB, 'status.yaml'),
    ...supplements.map((text, i) => parseTransformerFile(text, `site-${i + 1}.yaml`)),
    parseTransformerFile(MAP, 't.yaml'),
  ]);

const run = (library: TransformerLibrary, status: string) => {
  const msg = Hl7Message.parse(`MSH|^~\\&|A|B|C|D|20260101||ORM^O01|1|P|2.5.1\rORC|NW||||${status}`);
  const { output, warnings } = library.get('t').runWithIssues(msg);
  const resource = (output as { entry: Array<{ resource: { status?: string } }> }).entry[0]?.resource;
  return { status: resource?.status, warnings: warnings.map((w) => `${w.code} ${w.source} → ${w.target}`) };
};

const failure = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof MappingError) return err.toString();
    throw err;
  }
  throw new Error('no error');
};

describe('vocabulary supplements', () => {
  it('adds and replaces codes used by every map of the vocabulary', () => {
    const library = build(
      ['supplement: Status', 'codes:', '  Dc: cancelled', '  X: { code: revoked, display: Revoked }'].join(
        '\n',
      ),
    );
    expect(run(library, 'Dc')).toEqual({ status: 'cancelled', warnings: [] });
    expect(run(library, 'X')).toEqual({ status: 'revoked', warnings: [] });
    expect(run(library, 'A')).toEqual({ status: 'active', warnings: [] });
  });

  it('a code outside vocabulary and supplement gets the default with a warning', () => {
    expect(run(build(), 'Dc')).toEqual({
      status: 'unknown',
      warnings: ['map.unmapped_defaulted ORC-5 → ServiceRequest.status'],
    });
  });

  it('no_target codes take the default without a warning', () => {
    const library = build(['supplement: Status', 'no_target: [HD, A]'].join('\n'));
    expect(run(library, 'HD')).toEqual({ status: 'unknown', warnings: [] });
    expect(run(library, 'A')).toEqual({ status: 'unknown', warnings: [] });
  });

  it('a supplement of a vocabulary that does not exist is an error at its line and column', () => {
    expect(
      failure(() => build(['description: site codes', 'supplement: Stauts', 'codes: { Dc: x }'].join('\n'))),
    ).toBe('site-1.yaml:2:13: map.unknown: no vocabulary named Stauts to supplement');
  });

  it('the same code in two supplements is an error at the second', () => {
    expect(
      failure(() =>
        build(
          ['supplement: Status', 'codes:', '  Dc: cancelled'].join('\n'),
          ['supplement: Status', 'codes:', '  Dc: revoked'].join('\n'),
        ),
      ),
    ).toBe('site-2.yaml:3:7: map.duplicate: code Dc of Status is supplemented twice (also in site-1.yaml)');
  });

  it('a supplement that does not match the schema is an error at the key', () => {
    expect(
      failure(() => parseTransformerFile(['supplement: Status', 'codes:', '  Dc: 3'].join('\n'), 's.yaml')),
    ).toMatch(/^s\.yaml:3:7: map\.schema: codes\.Dc: /);
  });
});
