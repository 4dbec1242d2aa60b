import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { openStore } from './open-store';
import { describeReconcileBehaviour } from './reconcile-behaviour';

const dirs: string[] = [];
const schemas: TestSchema[] = [];

afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  for (const s of schemas) await s.drop();
});

describe('reconciliation store on SQLite', () => {
  describeReconcileBehaviour(() => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-reconcile-'));
    dirs.push(dir);
    return openStore({ dataDir: dir });
  });
});

describe('reconciliation store on PostgreSQL', () => {
  describeReconcileBehaviour(async () => {
    const s = await withTestSchema();
    schemas.push(s);
    return openStore({ databaseUrl: s.url, schema: s.schema });
  });
});
