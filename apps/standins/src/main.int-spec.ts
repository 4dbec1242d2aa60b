import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';

// The EHR loads the R4 definitions at start: seconds on a busy machine.
jest.setTimeout(20_000);

const root = resolve(__dirname, '..', '..', '..');
let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sinew-standins-'));
  bundle = join(dir, 'standins.js');
  await build({
    entryPoints: [join(__dirname, 'main.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    tsconfig: join(root, 'tsconfig.json'),
    logLevel: 'error',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [bundle, ...args], {
    env: { PATH: process.env.PATH, NODE_PATH: join(root, 'node_modules'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function lines(child: ChildProcess, count: number): Promise<Record<string, unknown>[]> {
  return new Promise((done, fail) => {
    const out: Record<string, unknown>[] = [];
    const reader = createInterface({ input: child.stdout! });
    reader.on('line', (line) => {
      out.push(JSON.parse(line) as Record<string, unknown>);
      if (out.length === count) done(out);
    });
    child.once('exit', (code) => fail(new Error(`exited with ${code} after ${out.length} lines`)));
  });
}

function exit(child: ChildProcess): Promise<number | null> {
  return new Promise((done) => child.once('exit', (code) => done(code)));
}

describe('the stand-ins process (main.ts bundled as it ships)', () => {
  it('prints one JSON line per listener, serves both, stops on SIGTERM with status 0', async () => {
    const patients = join(dir, 'patients.json');
    const person = { family: 'Doe', given: 'Jane', birth_date: '1990-05-01', sex: 'F' };
    writeFileSync(
      patients,
      JSON.stringify([
        { mrn: 'P-1', ...person },
        { mrn: 'P-2', ...person },
      ]),
    );
    const db = join(dir, 'data', 'pms.db');
    const child = run(['--pms-port', '0', `--pms-patients=${patients}`, '--pms-dft-mllp', '2578'], {
      EHR_PORT: '0',
      PMS_DB_FILE: db,
    });
    const stopped = exit(child);
    try {
      const [ehrLine, pmsLine] = await lines(child, 2);
      expect(ehrLine).toEqual({
        msg: 'ehr listening',
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/fhir$/),
      });
      expect(pmsLine).toEqual({
        msg: 'pms listening',
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        patients: 2,
        db,
        notify: { adt: null, siu: null, dft: '127.0.0.1:2578' },
        hl7: null,
      });

      const created = await fetch(`${String(ehrLine?.url)}/Patient`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'P-1' }] }),
      });
      expect(created.status).toBe(201);
      const listed = await fetch(`${String(pmsLine?.url)}/api/patients`);
      const page = (await listed.json()) as { items: Array<{ mrn: string }>; total: number };
      expect({ mrns: page.items.map((p) => p.mrn), total: page.total }).toEqual({
        mrns: ['P-1', 'P-2'],
        total: 2,
      });
      expect(existsSync(db)).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await stopped).toBe(0);
  });

  it('exits 2 naming a bad setting', async () => {
    const child = run([], { EHR_PORT: 'eighty' });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await exit(child)).toBe(2);
    expect(stderr).toBe('standins: EHR port must be a port number 0-65535, got "eighty"\n');
  });

  it('exits 1 with the error code when a port is taken', async () => {
    const first = run([], { EHR_PORT: '0', PMS_PORT: '0' });
    const [ehrLine] = await lines(first, 2);
    const port = new URL(String(ehrLine?.url)).port;
    const second = run([], { EHR_PORT: port, PMS_PORT: '0' });
    let stderr = '';
    second.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await exit(second)).toBe(1);
    expect(stderr).toBe('standins: cannot listen (EADDRINUSE)\n');
    first.kill('SIGTERM');
    expect(await exit(first)).toBe(0);
  });
});
