import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@sinew/store';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { describeHubBehaviour } from './hub-behaviour';

const dirs: string[] = [];
const schemas: TestSchema[] = [];

afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  for (const s of schemas) await s.drop();
});

describe('clinic data hub on SQLite', () => {
  describeHubBehaviour(() => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-hub-'));
    dirs.push(dir);
    return openStore({ dataDir: dir });
  });
});

describe('clinic data hub on PostgreSQL', () => {
  describeHubBehaviour(async () => {
    const s = await withTestSchema();
    schemas.push(s);
    return openStore({ databaseUrl: s.url, schema: s.schema });
  });
});
