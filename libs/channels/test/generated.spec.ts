import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import { compileChannel, formatProblem } from '@sinew/channels';
import { PIPELINE_EXAMPLES } from '../src/reference';
import { GENERATED, generatedFiles } from './generated';

const ROOT = join(__dirname, '..', '..', '..');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return yamlFiles(path);
      return /\.yaml$/.test(name) && !/\.test\.yaml$/.test(name) ? [path] : [];
    });
}

describe('generated schemas and reference pages', () => {
  let files: Map<string, string>;
  beforeAll(() => {
    files = generatedFiles(ROOT);
  });

  it.each([
    [GENERATED.channelSchema, 'npm run schemas'],
    [GENERATED.transformerSchema, 'npm run schemas'],
    [GENERATED.pipelineSteps, 'npm run docs'],
    [GENERATED.lintCodes, 'npm run docs'],
    [GENERATED.api, 'npm run docs'],
  ])('%s is up to date (%s)', (path, command) => {
    const committed = readFileSync(join(ROOT, path), 'utf8');
    if (committed !== files.get(path))
      throw new Error(`${path} is not what the declarations give: run ${command}`);
  });

  it('the reference pages’ examples are valid channel settings', () => {
    const registries = {
      sources: SOURCES,
      destinations: DESTINATIONS,
      transformers: TransformerLibrary.load([BUILT_IN_TRANSFORMERS]),
    };
    for (const [name, part] of Object.entries(PIPELINE_EXAMPLES)) {
      const text = [
        'id: example',
        "source: { type: mllp, listen: '127.0.0.1:2575' }",
        ...(part.startsWith('destinations:')
          ? ['pipeline:', '  - map: { transformer: oru-to-fhir }', part]
          : [
              part,
              'destinations:',
              '  - { name: archive, type: file, directory: out, retry: { attempts: 3 } }',
            ]),
      ].join('\n');
      const { problems } = compileChannel(text, `${name}.yaml`, registries, {
        env: { values: {}, strict: true },
      });
      expect(problems.map(formatProblem)).toEqual([]);
    }
  });
});

describe('the JSON Schemas in an editor', () => {
  const ajv = new Ajv({ allErrors: true });
  const channel = ajv.compile(
    JSON.parse(readFileSync(join(ROOT, GENERATED.channelSchema), 'utf8')) as object,
  );
  const transformer = ajv.compile(
    JSON.parse(readFileSync(join(ROOT, GENERATED.transformerSchema), 'utf8')) as object,
  );
  const errors = (validate: typeof channel, value: unknown) =>
    validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.dataPath} ${e.message ?? ''}`);

  it.each(yamlFiles(join(ROOT, 'transformers')).map((p) => [relative(ROOT, p)]))(
    '%s validates against schemas/transformer.schema.json and names it on its first line',
    (path) => {
      const text = readFileSync(join(ROOT, path), 'utf8');
      const schemaPath = relative(join(ROOT, path, '..'), join(ROOT, GENERATED.transformerSchema));
      expect(text.split('\n')[0]).toBe(`# yaml-language-server: $schema=${schemaPath}`);
      expect(errors(transformer, parse(text))).toEqual([]);
    },
  );

  it.each(yamlFiles(join(ROOT, 'channels')).map((p) => [relative(ROOT, p)]))(
    '%s validates against schemas/channel.schema.json',
    (path) => {
      expect(errors(channel, parse(readFileSync(join(ROOT, path), 'utf8')))).toEqual([]);
    },
  );

  it('describes each destination by its type: base_url for fhir, url for mllp', () => {
    const file = (destination: object) => ({
      id: 'x',
      source: { type: 'mllp', listen: '${LISTEN}' },
      destinations: [{ name: 'd', retry: { attempts: '${ATTEMPTS}' }, ...destination }],
    });
    expect(errors(channel, file({ type: 'fhir', base_url: 'https://ehr.example/fhir' }))).toEqual([]);
    expect(errors(channel, file({ type: 'mllp', url: 'mllp://127.0.0.1:2575' }))).toEqual([]);
    expect(channel(file({ type: 'mllp', base_url: 'https://ehr.example/fhir' }))).toBe(false);
    expect(channel(file({ type: 'fhir', base_url: 'https://ehr.example/fhir', concurrency: 'four' }))).toBe(
      false,
    );
  });
});
