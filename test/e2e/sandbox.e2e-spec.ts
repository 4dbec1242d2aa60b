import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import { freePort } from '@sinew/test-support/engine-process';

const ROOT = resolve(__dirname, '..', '..');

jest.setTimeout(120_000);

function sinew(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, ['bin/sinew.js', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file of a folder, by name, as bytes. */
function filesOf(dir: string): Map<string, Buffer> {
  return new Map(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f))]),
  );
}

describe('sinew sandbox --generate-only (built command)', () => {
  const base = mkdtempSync(join(tmpdir(), 'sinew-sandbox-'));

  it('writes the same messages, byte for byte, for the same seed, with an index in sending order', () => {
    const a = join(base, 'a');
    const b = join(base, 'b');
    const args = ['--seed', '11', '--patients', '150', '--days', '4'];
    const first = sinew(['sandbox', ...args, '--generate-only', a]);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(
      new RegExp(
        `^sinew sandbox: seed 11: 150 patients, 2 practitioners, 4 clinic days from 2026-03-02, \\d+ appointments, \\d+ messages written to ${a}\\n`,
      ),
    );
    expect(sinew(['sandbox', ...args, '--generate-only', b]).status).toBe(0);
    const filesA = filesOf(a);
    const filesB = filesOf(b);
    expect([...filesA.keys()]).toEqual([...filesB.keys()]);
    for (const [name, bytes] of filesA) expect(bytes.equals(filesB.get(name)!)).toBe(true);

    const index = readFileSync(join(a, 'index.tsv'), 'utf8').trimEnd().split('\n');
    expect(index[0]).toBe('seq\tfile\tchannel\ttype\tcontrol_id\tpatient\tat');
    const rows = index.slice(1).map((l) => l.split('\t'));
    const total = Number(/(\d+) messages written/.exec(first.stdout)![1]);
    expect(rows).toHaveLength(total);
    expect(filesA.size).toBe(total + 1);
    // Each file is one message whose MSH-10 and type the index names.
    for (const [seq, file, channel, type, controlId, patient] of rows.slice(0, 200)) {
      expect(file).toBe(`${seq}-${channel}-${type!.replace('^', '_')}.hl7`);
      const msg = Hl7Message.parse(filesA.get(file!)!);
      expect(msg.controlId).toBe(controlId);
      expect(`${msg.get('MSH-9.1')}^${msg.get('MSH-9.2')}`).toBe(type);
      expect(msg.get('PID-3.1')).toBe(patient);
      expect(msg.get('PID-3.4')).toBe('SINEW-SANDBOX');
    }
    const counts = /by type: (.*)\n/.exec(first.stdout)![1]!;
    expect(counts).toMatch(/ADT\^A04=150 /);
    expect(counts).toMatch(/ORU\^R01=\d+/);
  });

  it('writes other messages for another seed', () => {
    const c = join(base, 'c');
    expect(
      sinew(['sandbox', '--seed', '12', '--patients', '150', '--days', '4', '--generate-only', c]).status,
    ).toBe(0);
    const a = filesOf(join(base, 'a'));
    const first = [...filesOf(c)].find(([name]) => name.startsWith('0000001-'))!;
    expect(first[1].equals(a.get([...a.keys()].find((n) => n.startsWith('0000001-'))!)!)).toBe(false);
  });

  it('with a duration and no --days, generates enough clinic days to last it', () => {
    const d = join(base, 'd');
    const r = sinew(['sandbox', '--rate', '100', '--duration', '30', '--generate-only', d]);
    expect(r.status).toBe(0);
    const [, days, messages] = /(\d+) clinic days from 2026-03-02, \d+ appointments, (\d+) messages/.exec(
      r.stdout,
    )!;
    expect(Number(days)).toBeGreaterThan(5);
    expect(Number(messages)).toBeGreaterThanOrEqual(3000);
    expect(readdirSync(d)).toHaveLength(Number(messages) + 1);
  });

  it('refuses bad options with exit status 2', () => {
    for (const args of [
      ['--rate', '0'],
      ['--patients', 'many'],
      ['--seed', '-3'],
      ['--start-date', '2026-02-30'],
    ]) {
      const r = sinew(['sandbox', ...args, '--generate-only', join(base, 'bad')]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/error: option/);
    }
  });
});

describe('sinew sandbox with its engine (built command)', () => {
  it('starts the engine on the sandbox channels, sends the traffic, gets AA for every message and prints the summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-sandbox-run-'));
    const channels = join(dir, 'channels');
    const out = join(dir, 'out');
    mkdirSync(channels);
    mkdirSync(out);
    // The sandbox channels with a file destination in place of the hub's store destination.
    for (const file of readdirSync(join(ROOT, 'channels', 'sandbox')).filter(
      (f) => f.endsWith('.yaml') && !f.endsWith('.test.yaml'),
    )) {
      const text = readFileSync(join(ROOT, 'channels', 'sandbox', file), 'utf8');
      expect(text).toContain('    type: store\n    environment: sandbox\n');
      writeFileSync(
        join(channels, file),
        text.replace(
          '    type: store\n    environment: sandbox\n',
          `    type: file\n    directory: ${JSON.stringify(out)}\n`,
        ),
      );
    }
    const ports = {
      lab: await freePort(),
      adt: await freePort(),
      siu: await freePort(),
      dft: await freePort(),
    };
    const env = {
      ...process.env,
      SANDBOX_LAB_MLLP_PORT: String(ports.lab),
      SANDBOX_ADT_MLLP_PORT: String(ports.adt),
      SANDBOX_SIU_MLLP_PORT: String(ports.siu),
      SANDBOX_DFT_MLLP_PORT: String(ports.dft),
    };
    const child = spawn(
      process.execPath,
      [
        'bin/sinew.js',
        'sandbox',
        '--seed',
        '3',
        '--patients',
        '60',
        '--days',
        '2',
        '--rate',
        '40',
        '--channels',
        channels,
        '--data',
        join(dir, 'data'),
        '--http-port',
        '0',
      ],
      { cwd: ROOT, env },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    expect({ status, stderr: stderr.split('\n').filter((l) => l.includes('"level":"error"')) }).toEqual({
      status: 0,
      stderr: [],
    });
    expect(stdout).toContain(`(lab ${ports.lab}, adt ${ports.adt}, siu ${ports.siu}, dft ${ports.dft})`);
    const sent = Number(/messages sent: (\d+)\n/.exec(stdout)![1]);
    expect(sent).toBeGreaterThan(60);
    expect(stdout).toContain(`acks: AA=${sent}\n`);
    expect(stdout).toContain('no ack: none\n');
    // The sandbox's own data folder holds the engine's ledger.
    expect(readdirSync(join(dir, 'data'))).toContain('sinew.db');
    // What the channels delivered: FHIR transactions about sandbox patients only.
    const delivered = readdirSync(out);
    expect(delivered.length).toBeGreaterThan(sent / 2);
    for (const f of delivered.slice(0, 50)) {
      const bundle = JSON.parse(readFileSync(join(out, f), 'utf8')) as {
        type: string;
        entry: Array<{ resource: { resourceType: string; identifier?: Array<{ system?: string }> } }>;
      };
      expect(bundle.type).toBe('transaction');
      const patient = bundle.entry.find((e) => e.resource.resourceType === 'Patient')!.resource;
      expect(patient.identifier?.[0]?.system).toBe('urn:sinew:id:SINEW-SANDBOX');
    }
  });
});
