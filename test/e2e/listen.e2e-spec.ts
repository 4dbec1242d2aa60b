import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Hl7Message, splitMessages } from '@sinew/hl7v2';
import { MllpDecoder, encodeFrame } from '@sinew/mllp';
import { corpusPath } from '../support/corpus';
import { itWithPeer } from '../support/peers';
import { createTestPki, opensslPeer } from '../support/tls';
import { waitFor } from '../support/wait';

jest.setTimeout(30_000);

const ROOT = resolve(__dirname, '..', '..');

/** One line per message: ISO time, peer, MSH-9 (code^trigger), MSH-10, ACK code. */
const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t127\.0\.0\.1:\d+\t[^\t]+\t[^\t]+\t(AA|AE|AR)$/;

interface Running {
  child: ChildProcessWithoutNullStreams;
  port: number;
  stdout(): string;
  stderr(): string;
  /** The message lines printed so far (after `listening on`). */
  lines(): string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Running[] = [];

/** Starts the built command as a user does, on a free port; resolves once it prints its address. */
async function listen(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, ['bin/sinew.js', 'listen', '--port', '0', ...args], { cwd: ROOT });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal })),
  );
  const r: Running = {
    child,
    port: 0,
    stdout: () => out,
    stderr: () => err,
    lines: () => out.split('\n').slice(1, -1),
    exit,
  };
  running.push(r);
  r.port = await new Promise<number>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no "listening on" line: ${out} ${err}`)), 10_000);
    const check = () => {
      const m = /^listening on 127\.0\.0\.1:(\d+)\b.*\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        done(Number(m[1]));
      }
    };
    child.stdout.on('data', check);
    void exit.then(() => {
      clearTimeout(timer);
      fail(new Error(`sinew listen exited: ${err}`));
    });
  });
  return r;
}

function sinew(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['bin/sinew.js', ...args],
      { cwd: ROOT, timeout: 15_000 },
      (e, stdout, stderr) =>
        done({ status: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr }),
    );
  });
}

/** Writes the frames on one connection and collects the replies until `count` arrived or it closed. */
function exchange(
  port: number,
  payloads: Array<Buffer | string>,
  count = payloads.length,
): Promise<Hl7Message[]> {
  return new Promise((done, fail) => {
    const decoder = new MllpDecoder({ maxMessageBytes: 1 << 20 });
    const replies: Hl7Message[] = [];
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(Buffer.concat(payloads.map((p) => encodeFrame(p))));
    });
    socket.on('data', (chunk) => {
      for (const item of decoder.push(chunk)) {
        if (item.type === 'frame') replies.push(Hl7Message.parse(item.payload));
      }
      if (replies.length >= count) socket.end();
    });
    socket.on('error', fail);
    socket.on('close', () => done(replies));
  });
}

const msg = (controlId: string, extra = '') =>
  [
    `MSH|^~\\&|PMS|NORTH|SINEW|CLINIC|20260101120000||ADT^A01^ADT_A01|${controlId}|P|2.5.1`,
    'EVN|A01|20260101120000',
    `PID|1||12345^^^NORTH^MR||DOE^JANE||19800101|F${extra}`,
  ].join('\r') + '\r';

describe('sinew listen (built command)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-listen-'));
  });
  afterEach(async () => {
    for (const r of running.splice(0)) {
      if (r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill('SIGKILL');
        await r.exit;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('acknowledges corpus messages sent by `sinew send` with AA, prints one line each without content, stores each, stops on SIGINT', async () => {
    const out = join(dir, 'received');
    const files = [
      join(ROOT, 'channels/samples/adt-a01.hl7'),
      join(ROOT, 'channels/samples/oru-r01.hl7'),
      corpusPath('fhir-converter-01/hl7v2-samples/ADT-A01-01.hl7'),
      corpusPath('fhir-converter-01/hl7v2-samples/ORU-R01-01.hl7'),
      corpusPath('fhir-converter-01/hl7v2-samples/SIU-S12-01.hl7'),
      corpusPath('fhir-converter-01/hl7v2-samples/DFT-P03-01.hl7'),
      corpusPath('fhir-converter-01/hl7v2-samples/VXU-V04-01.hl7'), // starts with a UTF-8 BOM
    ];
    // What `sinew send` puts on the wire: each message, segments ending in CR.
    const sent = files.map((f) => {
      const m = splitMessages(readFileSync(f))[0] as Hl7Message;
      for (const s of m.segments) s.terminator = '\r';
      return m;
    });
    const listener = await listen(['--out', out]);

    const r = await sinew(['send', '--port', String(listener.port), ...files]);
    expect(r.stdout.split('\n').map((l) => l.split('\t')[3])).toEqual([...files.map(() => 'AA'), undefined]);
    expect(r.status).toBe(0);

    await waitFor('a line per message', () => listener.lines().length === files.length, 10_000);
    const lines = listener.lines();
    for (const line of lines) expect(line).toMatch(LINE);
    expect(lines.map((l) => l.split('\t').slice(2))).toEqual(
      sent.map((m) => [m.messageType, m.controlId, 'AA']),
    );
    // Nothing of the patients: no names, identifiers or birth dates in any output.
    const printed = listener.stdout() + listener.stderr();
    for (const m of sent) {
      for (const path of ['PID-3.1', 'PID-5.1.1', 'PID-5.2', 'PID-7']) {
        const value = m.get(path);
        if (value.length > 2)
          expect({ path, found: printed.includes(value) }).toEqual({ path, found: false });
      }
    }

    const stored = readdirSync(out).sort();
    expect(stored).toHaveLength(files.length);
    for (const name of stored) expect(name).toMatch(/^\d{8}T\d{6}\.\d{3}Z_[A-Za-z0-9._-]+\.hl7$/);
    // Exactly the bytes received, under a name from MSH-10 (several samples share MSG00001).
    const contents = stored.map((n) => readFileSync(join(out, n)).toString('latin1'));
    for (const m of sent) {
      const at = contents.indexOf(m.toBuffer().toString('latin1'));
      expect(at).toBeGreaterThanOrEqual(0);
      expect(stored[at]).toMatch(new RegExp(`_${m.controlId.replace(/[^A-Za-z0-9]/g, '.')}(_\\d+)?\\.hl7$`));
    }

    listener.child.kill('SIGINT');
    expect(await listener.exit).toEqual({ code: 0, signal: null });
    expect(listener.stderr()).toContain(
      `sinew listen: stopped; ${files.length} message(s): ${files.length} accepted, 0 not accepted`,
    );
  });

  it('answers AE with an ERR for bytes that are not HL7 and for a message without MSH-10, AR for one over --max-message-bytes or one it cannot store', async () => {
    const out = join(dir, 'received');
    const listener = await listen(['--out', out, '--max-message-bytes', '2000']);

    const [garbage, noId] = await exchange(listener.port, ['this is not an HL7 message', msg('')]);
    expect(garbage?.get('MSA-1')).toBe('AE');
    expect(garbage?.get('ERR-3.1')).toBe('100');
    expect(noId?.get('MSA-1')).toBe('AE');
    expect(noId?.get('ERR-3.1')).toBe('101');
    expect(noId?.get('ERR-2.1')).toBe('MSH');

    const [tooBig] = await exchange(listener.port, [msg('BIG00001', '|' + 'x'.repeat(3000))]);
    expect(tooBig?.get('MSA-1')).toBe('AR');
    expect(tooBig?.get('ERR-3.1')).toBe('207');

    const [fine] = await exchange(listener.port, [msg('OK000001')]);
    expect(fine?.get('MSA-1')).toBe('AA');
    expect(fine?.get('MSA-2')).toBe('OK000001');

    await waitFor('4 lines', () => listener.lines().length === 4, 10_000);
    const lines = listener.lines();
    for (const line of lines) expect(line).toMatch(LINE);
    expect(lines.map((l) => l.split('\t').slice(2))).toEqual([
      ['-', '-', 'AE'],
      ['ADT^A01', '-', 'AE'],
      ['-', '-', 'AR'],
      ['ADT^A01', 'OK000001', 'AA'],
    ]);
    expect(listener.stderr()).toContain('mllp.frame_too_large');
    expect(listener.stdout() + listener.stderr()).not.toContain('DOE');
    expect(readdirSync(out)).toEqual([expect.stringMatching(/_OK000001\.hl7$/)]);

    // A message that cannot be stored is not acknowledged as received: AR, send it again later.
    rmSync(out, { recursive: true });
    const [unstored] = await exchange(listener.port, [msg('LOST0001')]);
    expect(unstored?.get('MSA-1')).toBe('AR');
    expect(unstored?.get('MSA-2')).toBe('LOST0001');
    await waitFor('5 lines', () => listener.lines().length === 5, 10_000);
    expect(listener.lines()[4]?.split('\t').slice(2)).toEqual(['ADT^A01', 'LOST0001', 'AR']);
    expect(listener.stderr()).toContain('sinew listen: could not store a message (ENOENT); answered AR\n');
  });

  it('on SIGTERM finishes the messages in flight: every AA sent has its file, then exits 0', async () => {
    const out = join(dir, 'received');
    const listener = await listen(['--out', out]);
    const ids = Array.from({ length: 300 }, (_, i) => `PIPE${String(i).padStart(5, '0')}`);
    const replies = new Promise<Hl7Message[]>((done, fail) => {
      const decoder = new MllpDecoder();
      const got: Hl7Message[] = [];
      const socket = connect(listener.port, '127.0.0.1', () => {
        socket.write(Buffer.concat(ids.map((id) => encodeFrame(msg(id)))));
      });
      socket.on('data', (chunk) => {
        for (const item of decoder.push(chunk)) {
          if (item.type !== 'frame') continue;
          got.push(Hl7Message.parse(item.payload));
          // Stop while messages are still arriving and being stored.
          if (got.length === 1) listener.child.kill('SIGTERM');
        }
      });
      socket.on('error', fail);
      socket.on('close', () => done(got));
    });
    const acks = await replies;
    expect(await listener.exit).toEqual({ code: 0, signal: null });

    const accepted = acks.filter((a) => a.get('MSA-1') === 'AA').map((a) => a.get('MSA-2'));
    expect(accepted.length).toBeGreaterThan(0);
    expect(acks.every((a) => a.get('MSA-1') === 'AA')).toBe(true);
    // In order, none skipped: each ACK is the next message's.
    expect(accepted).toEqual(ids.slice(0, accepted.length));
    // No partial file, and no file for a message that got no ACK.
    const stored = readdirSync(out);
    expect(stored).toHaveLength(accepted.length);
    for (const id of accepted) {
      const name = stored.find((n) => n.endsWith(`_${id}.hl7`)) as string;
      expect(readFileSync(join(out, name), 'latin1')).toBe(msg(id));
    }
    expect(listener.stderr()).toMatch(/sinew listen: stopping\n/);
    expect(listener.stderr()).toMatch(
      /sinew listen: stopped; \d+ message\(s\): \d+ accepted, 0 not accepted\n/,
    );
    expect(listener.lines()).toHaveLength(accepted.length);
  });

  itWithPeer(opensslPeer, 'serves mutual TLS with --cert, --key and --ca', async () => {
    const pki = createTestPki();
    try {
      const listener = await listen([
        '--cert',
        pki.server.certPath,
        '--key',
        pki.server.keyPath,
        '--ca',
        pki.caPath,
      ]);
      expect(listener.stdout()).toMatch(
        /^listening on 127\.0\.0\.1:\d+ \(TLS, client certificates required\)\n/,
      );
      const f = join(dir, 'tls.hl7');
      writeFileSync(f, msg('TLS00001'));
      const tlsArgs = ['--ca', pki.caPath, '--cert', pki.client.certPath, '--key', pki.client.keyPath];
      const ok = await sinew(['send', '--port', String(listener.port), ...tlsArgs, f]);
      expect(ok.stdout).toBe(`${f}\t1\tTLS00001\tAA\t\n`);
      const refused = await sinew(['send', '--port', String(listener.port), '--ca', pki.caPath, f]);
      expect(refused.stdout).toMatch(/\terror\tmllp\.tls_handshake: /);
      await waitFor(
        'the refused handshake reported',
        () => listener.stderr().includes('mllp.tls_handshake'),
        10_000,
      );
      expect(listener.lines()).toHaveLength(1);
      listener.child.kill('SIGTERM');
      expect((await listener.exit).code).toBe(0);
    } finally {
      pki.remove();
    }
  });

  it('exits 2 on usage errors and 1 when the port is taken', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    for (const args of [
      ['listen'],
      ['listen', '--port', '70000'],
      ['listen', '--port', 'abc'],
      ['listen', '--port', '0', '--tls'],
      ['listen', '--port', '0', '--cert', join(dir, 'missing.pem'), '--key', join(dir, 'missing.key')],
      ['listen', '--port', '0', '--out', join(file, 'sub')],
      ['listen', '--port', '0', '--max-message-bytes', '0'],
    ]) {
      const r = await sinew(args);
      expect({ args, status: r.status, stdout: r.stdout }).toEqual({ args, status: 2, stdout: '' });
    }

    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const { port } = taken.address() as AddressInfo;
      const r = await sinew(['listen', '--port', String(port)]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`sinew listen: cannot listen on 127.0.0.1:${port} (EADDRINUSE)\n`);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });
});
