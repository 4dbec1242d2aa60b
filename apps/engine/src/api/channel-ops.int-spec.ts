import { AccessService, type Scope } from '@sinew/auth';
import { lintPaths, loadEnvironment } from '@sinew/channels';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { createLogger } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore, type Store } from '@sinew/store';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../../../test/support/engine-process';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(60_000);

// Response bodies are read loosely and checked by the expectations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

const SECRET = 'tok-3f9a1c77e2b04d5b';
const HIDDEN_URL = 'postgres://sinew:hunter22@db.internal/sinew';

function oru(controlId: string): Hl7Message {
  return Hl7Message.parse(
    [
      `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|${controlId}|P|2.5.1`,
      'PID|1||MRN-OPS-1^^^NORTH^MR||DOE^JANE||19700101|F',
      'OBR|1||ORD-1|GLU^Glucose',
      'OBX|1|NM|GLU^Glucose||5.4|mmol/L|||||F',
      '',
    ].join('\r'),
  );
}

describe('channels as code over the admin API (lint, deploy, history, rollback, shadow)', () => {
  let dir: string;
  let running: RunningEngine;
  let base: string;
  let store: Store;
  let access: AccessService;
  let port: number;
  let reader: string;
  let writer: string;
  let engineer: string;
  const saved = { token: process.env.LAB_API_TOKEN, kind: process.env.LAB_SOURCE_KIND };

  const channel = (out: string) => `id: lab
source: { type: mllp, listen: ${port} }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, out)}
  - name: ehr
    type: http
    url: http://127.0.0.1:9/fhir
    headers:
      Authorization: Bearer \${LAB_API_TOKEN}
    retry: { attempts: 1 }
`;
  const labFile = () => join(dir, 'channels', 'lab.yaml');

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Body };
  };

  const send = async (controlId: string) => {
    const client = new MllpClient({ host: '127.0.0.1', port });
    try {
      expect((await client.send(oru(controlId))).code).toBe('AA');
    } finally {
      await client.close();
    }
  };
  /** The archive file of a message, written into `out`. */
  const archived = (out: string, controlId: string) =>
    waitFor(
      `${controlId} archived in ${out}`,
      () =>
        existsSync(join(dir, out)) &&
        readdirSync(join(dir, out)).some((f) =>
          readFileSync(join(dir, out, f), 'utf8').includes(`|${controlId}|`),
        ),
      20_000,
      50,
    );

  beforeAll(async () => {
    process.env.LAB_API_TOKEN = SECRET;
    process.env.LAB_SOURCE_KIND = HIDDEN_URL;
    dir = mkdtempSync(join(tmpdir(), 'sinew-channel-ops-'));
    mkdirSync(join(dir, 'channels'));
    port = await freePort();
    writeFileSync(labFile(), channel('out-1'));
    running = await startEngine(
      loadConfig({
        SINEW_CHANNELS_DIR: join(dir, 'channels'),
        SINEW_DATA_DIR: join(dir, 'data'),
        SINEW_HTTP_PORT: '0',
        SINEW_PIPELINE_THREADS: '0',
        SINEW_API_RATE_LIMIT: '100000',
      }),
      createLogger('silent'),
    );
    base = `http://127.0.0.1:${running.httpPort}`;
    store = await openStore({ dataDir: join(dir, 'data') });
    access = new AccessService(store);
    const key = async (name: string, scopes: Scope[]) => (await access.createKey({ name, scopes })).secret;
    reader = await key('reader', ['channels:read']);
    writer = await key('deployer', ['channels:write', 'channels:read']);
    engineer = await key('engineer', ['channels:write', 'channels:read', 'phi:read']);
    await send('OPS-1');
    await archived('out-1', 'OPS-1');
  });

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    for (const [name, value] of [
      ['LAB_API_TOKEN', saved.token],
      ['LAB_SOURCE_KIND', saved.kind],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('lints submitted files as sinew lint does: exact positions, no values of the engine’s variables', async () => {
    const broken = `id: broken
source: { type: mllp, listen: 2575 }
pipeline:
  - validat: { rules: [] }
destinations:
  - name: out
    type: file
    directory: /tmp/out
    ordering: patient id
`;
    const leaky = `id: leaky
source:
  type: \${LAB_SOURCE_KIND}
  listen: 2576
destinations:
  - { name: out, type: file, directory: /tmp/out, retry: { attempts: 3 } }
`;
    const res = await call('POST', '/api/v1/channels/lint', reader, {
      files: [
        { name: 'channels/broken.yaml', content: broken },
        { name: 'channels/leaky.yaml', content: leaky },
      ],
    });
    expect(res.status).toBe(200);
    // The same findings as sinew lint on the same files, against the engine's environment.
    mkdirSync(join(dir, 'lint', 'channels'), { recursive: true });
    writeFileSync(join(dir, 'lint', 'channels', 'broken.yaml'), broken);
    writeFileSync(join(dir, 'lint', 'channels', 'leaky.yaml'), leaky);
    const local = lintPaths([join(dir, 'lint', 'channels')], {
      connectors: { sources: SOURCES, destinations: DESTINATIONS },
      env: loadEnvironment(process.env),
      displayPath: (p) => p.slice(join(dir, 'lint').length + 1),
    });
    const masked = local.problems.map((p) => ({ ...p, message: p.message.split(HIDDEN_URL).join('******') }));
    expect(res.body.problems).toEqual(masked);
    // The engine's variable would have been quoted: it is masked.
    expect(local.problems.some((p) => p.message.includes(HIDDEN_URL))).toBe(true);
    expect(JSON.stringify(res.body)).not.toContain(HIDDEN_URL);
    expect(res.body).toMatchObject({ errors: 3, warnings: 1, files: 2 });
    expect(
      res.body.problems.map((p: Body) => `${p.file}:${p.line}:${p.column} ${p.severity} ${p.code} ${p.path}`),
    ).toEqual([
      'channels/broken.yaml:4:5 error pipeline.unknown_step pipeline.0.validat',
      'channels/broken.yaml:6:11 warning destination.implicit_dead_letter destinations.0.name',
      'channels/broken.yaml:9:15 error expression.key destinations.0.ordering',
      'channels/leaky.yaml:3:9 error reference.connector source.type',
    ]);

    const empty = await call('POST', '/api/v1/channels/lint', reader, { files: [] });
    expect(empty.status).toBe(400);
    expect(empty.type).toMatch(/problem\+json/);
  });

  it('deploys the changed folder for a channels:write key; channels:read cannot; a broken folder changes nothing', async () => {
    writeFileSync(labFile(), channel('out-2'));
    const denied = await call('POST', '/api/v1/channels/deploy', reader);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ code: 'scope.required', required_scope: 'channels:write' });
    await send('OPS-2');
    await archived('out-1', 'OPS-2');

    const res = await call('POST', '/api/v1/channels/deploy', writer);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      changed: ['lab'],
      added: [],
      removed: [],
      unchanged: [],
      kept_sources: ['lab'],
      channels: [{ id: 'lab', change: 'changed', version: 2, deployed_by: 'key:deployer' }],
    });
    // The folder's warnings come with it.
    expect(res.body.problems.map((p: Body) => `${p.line}:${p.column} ${p.severity} ${p.code}`)).toEqual([
      '4:11 warning destination.implicit_dead_letter',
      '7:11 warning destination.short_timeout',
    ]);
    await send('OPS-3');
    await archived('out-2', 'OPS-3');

    const again = await call('POST', '/api/v1/channels/deploy', writer);
    expect(again.body).toMatchObject({ changed: [], unchanged: ['lab'] });

    writeFileSync(labFile(), `${channel('out-3')}    polcy: reject\n`);
    const refused = await call('POST', '/api/v1/channels/deploy', writer);
    expect(refused.status).toBe(422);
    expect(refused.type).toMatch(/problem\+json/);
    expect(refused.body).toMatchObject({ code: 'channels.invalid' });
    expect(refused.body.problems).toEqual([
      expect.objectContaining({ line: 13, column: 5, severity: 'error', code: 'schema.unknown_key' }),
    ]);
    await send('OPS-4');
    await archived('out-2', 'OPS-4');
    writeFileSync(labFile(), channel('out-2'));
  });

  it('shows a version with its text (references, not secrets) and its diff, as sinew history does', async () => {
    const v2 = await call('GET', '/api/v1/channels/lab/deployments/2', reader);
    expect(v2.status).toBe(200);
    expect(v2.body).toMatchObject({ version: 2, outcome: 'deployed', deployed_by: 'key:deployer' });
    expect(v2.body.content).toContain('Bearer ${LAB_API_TOKEN}');
    expect(JSON.stringify(v2.body)).not.toContain(SECRET);
    expect(v2.body.against.version).toBe(1);
    const lines = (v2.body.diff as string).split('\n');
    expect(lines[0]).toMatch(/^--- .*lab\.yaml \(version 1, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$/);
    expect(lines[1]).toMatch(/^\+\+\+ .*lab\.yaml \(version 2, /);
    expect(lines.filter((l) => /^[-+] /.test(l))).toEqual([
      `-    directory: ${join(dir, 'out-1')}`,
      `+    directory: ${join(dir, 'out-2')}`,
    ]);
    // The refused attempt is a version too, with its findings.
    const v3 = await call('GET', '/api/v1/channels/lab/deployments/3?against=1', reader);
    expect(v3.body).toMatchObject({ outcome: 'refused', against: { version: 1 } });
    expect(v3.body.problems).toContainEqual(
      expect.objectContaining({ line: 13, column: 5, level: 'error', code: 'schema.unknown_key' }),
    );
    expect(v3.body.diff).toContain('+    polcy: reject');

    const missing = await call('GET', '/api/v1/channels/lab/deployments/99', reader);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: 'deployment.not_found' });
  });

  it('rolls back: the channel file gets the old text and the engine runs it', async () => {
    const denied = await call('POST', '/api/v1/channels/lab/rollback', reader, { version: 1 });
    expect(denied.status).toBe(403);
    const refusedVersion = await call('POST', '/api/v1/channels/lab/rollback', writer, { version: 3 });
    expect(refusedVersion.status).toBe(409);
    expect(refusedVersion.body.code).toBe('deployment.refused');

    const res = await call('POST', '/api/v1/channels/lab/rollback', writer, { version: 1 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      rolled_back_to: 1,
      file_written: true,
      changed: ['lab'],
      channels: [{ id: 'lab', change: 'changed', deployed_by: 'key:deployer' }],
    });
    expect(readFileSync(labFile(), 'utf8')).toBe(channel('out-1'));
    await send('OPS-5');
    await archived('out-1', 'OPS-5');
    const history = await store.listDeployments('lab', 1);
    expect(history[0]).toMatchObject({ outcome: 'deployed', deployedBy: 'key:deployer' });
    expect(history[0]?.content).toBe(channel('out-1'));
  });

  it('shadow-runs a candidate over the stored messages: nothing delivered, values with phi:read only', async () => {
    const stored = await store.searchMessages({ channelId: 'lab' });
    const before = readdirSync(join(dir, 'out-1')).length;
    // The candidate keeps ADT only (every stored ORU is now filtered) and drops the EHR.
    const candidate = `id: lab
source: { type: mllp, listen: ${port} }
pipeline:
  - filter: { path: MSH-9.1, equals: ADT }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, 'out-1')}
`;
    const res = await call('POST', '/api/v1/channels/lab/shadow', writer, { content: candidate, limit: 3 });
    expect(res.status).toBe(200);
    expect(res.body.totals).toMatchObject({ messages: 3, filtered: 3, unchanged: 0 });
    expect(res.body.changes).toHaveLength(3);
    expect(res.body.changes[0]).toMatchObject({
      id: stored[0]?.id,
      outcome: 'filtered',
      candidate: 'filtered',
    });
    expect(res.body.truncated).toBe(false);
    expect(JSON.stringify(res.body)).not.toMatch(/DOE\^JANE|MRN-OPS-1/);
    expect(readdirSync(join(dir, 'out-1'))).toHaveLength(before);

    // Why the candidate would reject a message is its content: told with phi:read only.
    const strict = candidate.replace(
      '  - filter: { path: MSH-9.1, equals: ADT }\n',
      "  - validate: { policy: reject, rules: [{ code: lab.name, path: PID-5.1, pattern: '^X' }] }\n",
    );
    const since = new Date(Date.now() - 3_600_000).toISOString();
    const plain = await call('POST', '/api/v1/channels/lab/shadow', writer, { content: strict, since });
    const full = await call('POST', '/api/v1/channels/lab/shadow', engineer, { content: strict, since });
    expect(plain.body.totals).toMatchObject({ messages: stored.length, rejected: stored.length });
    expect(plain.body.changes[0].issue).toEqual({ step: expect.any(String), code: expect.any(String) });
    expect(full.body.changes[0].issue.message).toEqual(expect.any(String));
    expect(JSON.stringify(plain.body)).not.toContain('DOE');
    expect(full.body.changes[0].issue.message).toBe('PID-5.1 does not match the pattern ^X');

    const bad = await call('POST', '/api/v1/channels/lab/shadow', writer, {
      content: candidate.replace('equals: ADT', 'equal: ADT'),
    });
    expect(bad.status).toBe(422);
    expect(bad.body.problems[0]).toMatchObject({ file: 'candidate.yaml', line: 4, severity: 'error' });

    const reading = await call('POST', '/api/v1/channels/lab/shadow', reader, { content: candidate });
    expect(reading.status).toBe(403);
  });
  it('answers 500 deploy.failed, naming nothing internal, when a compiled channel cannot start', async () => {
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const busy = (taken.address() as { port: number }).port;
    const extra = join(dir, 'channels', 'extra.yaml');
    try {
      writeFileSync(
        extra,
        `id: extra
source: { type: mllp, listen: '127.0.0.1:${busy}' }
destinations:
  - { name: out, type: file, directory: ${join(dir, 'out-extra')}, retry: { attempts: 3 } }
`,
      );
      const res = await call('POST', '/api/v1/channels/deploy', writer);
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ code: 'deploy.failed' });
      expect(JSON.stringify(res.body)).not.toMatch(/EADDRINUSE|\/tmp\//);
    } finally {
      rmSync(extra, { force: true });
      await new Promise((done) => taken.close(done));
    }
    const after = await call('POST', '/api/v1/channels/deploy', writer);
    expect(after.status).toBe(200);
    await send('OPS-6');
  });
});
