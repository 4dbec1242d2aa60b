import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  freePort,
  mllpExchange,
  ROOT,
  startEngineProcess,
  type EngineProcess,
} from '../support/engine-process';
import { waitFor } from '../support/wait';

jest.setTimeout(60_000);

const SAMPLE = readFileSync(join(ROOT, 'channels/samples/oru-r01.hl7'), 'latin1');

const mode = (path: string): string => `0${(statSync(path).mode & 0o777).toString(8)}`;

/** The engine's JSON log lines at level warn. */
function warnings(engine: EngineProcess): Array<Record<string, unknown>> {
  return engine.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.level === 'warn');
}

describe('sinew start keeps what it writes private (PHI at rest)', () => {
  let dir: string;
  let engine: EngineProcess | undefined;
  let mllpPort: number;
  let outDir: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-privacy-'));
    mkdirSync(join(dir, 'channels'));
    outDir = join(dir, 'out');
    mllpPort = await freePort();
    writeFileSync(
      join(dir, 'channels', 'lab.yaml'),
      [
        'id: lab',
        `source: { type: mllp, listen: "127.0.0.1:${mllpPort}" }`,
        'destinations:',
        `  - { name: archive, type: file, directory: "${outDir}", filename: "\${date}/\${message_id}.\${ext}" }`,
        '',
      ].join('\n'),
    );
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends one lab result and waits until the file destination has written it. */
  async function sendOne(): Promise<void> {
    const ack = (await mllpExchange(mllpPort, Buffer.from(SAMPLE, 'latin1'))).toString('latin1');
    expect(ack).toMatch(/MSA\|AA\|/);
    await waitFor('the delivered file', () => existsSync(outDir) && readdirSync(outDir).length > 0);
  }

  it('creates the data folder 0700 and the ledger, its WAL and the pid file 0600', async () => {
    const dataDir = join(dir, 'state', 'data');
    engine = await startEngineProcess({ channelsDir: join(dir, 'channels'), dataDir });
    await sendOne();
    expect({ parent: mode(join(dir, 'state')), data: mode(dataDir) }).toEqual({
      parent: '0700',
      data: '0700',
    });
    const files = readdirSync(dataDir).sort();
    expect(files).toEqual(expect.arrayContaining(['sinew.db', 'sinew.db-wal', 'sinew.db-shm', 'sinew.pid']));
    expect(files.map((f) => [f, mode(join(dataDir, f))])).toEqual(files.map((f) => [f, '0600']));
    // The file destination's own folders: readable by whoever may read its 0640 files only.
    const [day] = readdirSync(outDir);
    expect(mode(join(outDir, day!))).toBe('0750');
    expect(warnings(engine).filter((w) => typeof w.path === 'string')).toEqual([]);
  });

  it('sets an existing data folder and ledger open to others to 0700 and 0600, with a warning naming each', async () => {
    const dataDir = join(dir, 'data');
    engine = await startEngineProcess({ channelsDir: join(dir, 'channels'), dataDir });
    await sendOne();
    await engine.stop();
    // As an older release, a copy or a folder made by hand leaves them.
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'sinew.db'), 0o644);
    writeFileSync(join(dataDir, 'sinew.pid'), '1\n', { mode: 0o644 });
    chmodSync(join(dataDir, 'sinew.pid'), 0o644);

    engine = await startEngineProcess({ channelsDir: join(dir, 'channels'), dataDir });
    expect(mode(dataDir)).toBe('0700');
    expect(mode(join(dataDir, 'sinew.db'))).toBe('0600');
    expect(mode(join(dataDir, 'sinew.pid'))).toBe('0600');
    expect(
      warnings(engine)
        .filter((w) => typeof w.path === 'string')
        .map(({ path, mode: was, now, msg }) => ({ path, mode: was, now, msg })),
    ).toEqual([
      {
        path: dataDir,
        mode: '0755',
        now: '0700',
        msg: 'the ledger folder was open to other users (mode 0755): set to 0700',
      },
      {
        path: join(dataDir, 'sinew.db'),
        mode: '0644',
        now: '0600',
        msg: 'a ledger file was open to other users (mode 0644): set to 0600',
      },
    ]);
    await sendOne();
    for (const f of readdirSync(dataDir)) expect([f, mode(join(dataDir, f))]).toEqual([f, '0600']);
  });
});

describe('the container files publish no port without credentials', () => {
  const OPERATIONS_PORT = '8080';

  it('docker-compose publishes no engine operations port', () => {
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<
        string,
        { command?: string[]; environment?: Record<string, string>; ports?: string[] }
      >;
    };
    const engines = Object.entries(compose.services).filter(([, s]) =>
      (s.command ?? []).includes('bin/sinew.js'),
    );
    expect(engines.map(([name]) => name).sort()).toEqual(['engine-sources', 'engine-workers']);
    for (const [name, service] of engines) {
      expect(service.environment?.SINEW_HTTP_PORT).toBe(OPERATIONS_PORT);
      // A mapping is HOST:CONTAINER or IP:HOST:CONTAINER (optionally /tcp): the container port is last.
      const published = (service.ports ?? []).map((p) => String(p).split('/')[0]!.split(':').pop());
      expect([name, published.filter((p) => p === OPERATIONS_PORT)]).toEqual([name, []]);
    }
  });

  it('the image does not expose the operations port, and its health check reaches it inside', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const exposed = [...dockerfile.matchAll(/^EXPOSE\s+(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/));
    expect(exposed).toEqual(['2575']);
    expect(dockerfile).toMatch(/HEALTHCHECK[\s\S]*http:\/\/127\.0\.0\.1:/);
  });
});
