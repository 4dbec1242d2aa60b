import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { generatedFiles, RECONCILIATION_SCHEMA } from './generated';
import { EXAMPLE_FILE } from './example';

const ROOT = join(__dirname, '..', '..', '..');

describe('schemas/reconciliation.schema.json', () => {
  const schema = JSON.parse(readFileSync(join(ROOT, RECONCILIATION_SCHEMA), 'utf8')) as object;
  const validate = new Ajv({ allErrors: true }).compile(schema);
  const errors = (value: unknown) =>
    validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.dataPath} ${e.message ?? ''}`);

  it('is up to date (npm run schemas)', () => {
    const committed = readFileSync(join(ROOT, RECONCILIATION_SCHEMA), 'utf8');
    if (committed !== generatedFiles(ROOT).get(RECONCILIATION_SCHEMA))
      throw new Error(`${RECONCILIATION_SCHEMA} is not what the declarations give: run npm run schemas`);
  });

  it('accepts the documented example, ${VAR} references included, and flags what an editor should', () => {
    const example = parse(EXAMPLE_FILE) as Record<string, unknown>;
    expect(errors(example)).toEqual([]);
    expect(errors({ ...example, period: 'yesterday', timezone: '${TZ}' })).toEqual([]);
    expect(validate({ ...example, entitys: [] })).toBe(false);
    const [entity] = example.entities as Array<Record<string, unknown>>;
    expect(validate({ ...example, entities: [{ ...entity, fields: { f: { normalise: ['uper'] } } }] })).toBe(
      false,
    );
    expect(validate({ ...example, entities: [{ ...entity, status: 'maybe' }] })).toBe(false);
  });
});
