import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Hl7Message, buildAck } from '@sinew/hl7v2';
import { MllpServer } from '@sinew/mllp';
import { itWithPeer } from '../support/peers';
import { createTestPki, opensslPeer } from '../support/tls';

jest.setTimeout(20_000);

const ROOT = resolve(__dirname, '..', '..');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built command as a user does: `node bin/sinew.js send …`. Asynchronous, because
 * the server that answers it runs in this process.
 */
function send(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['bin/sinew.js', 'send', ...args],
      { cwd: ROOT, timeout: 15_000 },
      (err, stdout, stderr) => {
        const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        done({ status, stdout, stderr });
      },
    );
  });
}

const msg = (controlId: string, eol = '\r') =>
  [
    `MSH|^~\\&|PMS|NORTH|SINEW|CLINIC|20260101120000||ADT^A01^ADT_A01|${controlId}|P|2.5.1`,
    'EVN|A01|20260101120000',
    'PID|1||12345^^^NORTH^MR||DOE^JANE||19800101|F',
  ].join(eol) + eol;

/** Answers AE for an MSH-10 ending in E, nothing for one ending in N, AA otherwise; keeps the bytes. */
function peerHandler(received: Buffer[]) {
  return (bytes: Buffer) => {
    received.push(bytes);
    const m = Hl7Message.parse(bytes);
    if (m.controlId.endsWith('N')) return undefined;
    if (m.controlId.endsWith('E')) {
      return buildAck(m, { code: 'AE', text: 'unknown patient', error: { code: '204', location: 'PID-3' } });
    }
    return buildAck(m, { code: 'AA' });
  };
}

describe('sinew send (built command)', () => {
  let dir: string;
  let server: MllpServer;
  const received: Buffer[] = [];
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-send-'));
    server = new MllpServer({ port: 0 }, peerHandler(received));
    await server.start();
  });
  afterAll(async () => {
    await server.stop(1_000);
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    received.length = 0;
  });

  it('sends every message of every file, one line each, and exits 0 when all are accepted', async () => {
    const single = file('single.hl7', msg('ONE00001', '\n'));
    const several = file('several.hl7', msg('TWO00001') + msg('TWO00002') + msg('TWO00003'));
    const batch = file(
      'batch.hl7',
      'FHS|^~\\&|PMS\rBHS|^~\\&|PMS\r' + msg('BAT00001') + msg('BAT00002') + 'BTS|2\rFTS|1\r',
    );
    const r = await send(['--port', String(server.port), single, several, batch]);
    expect(r.stdout.split('\n')).toEqual([
      `${single}\t1\tONE00001\tAA\t`,
      `${several}\t1\tTWO00001\tAA\t`,
      `${several}\t2\tTWO00002\tAA\t`,
      `${several}\t3\tTWO00003\tAA\t`,
      `${batch}\t1\tBAT00001\tAA\t`,
      `${batch}\t2\tBAT00002\tAA\t`,
      '',
    ]);
    expect(r.stderr).toBe(
      'sinew send: 6 message(s) to 127.0.0.1:' + server.port + ': 6 accepted, 0 not accepted\n',
    );
    expect(r.status).toBe(0);
    // On the wire: one message per frame, segments ending in CR even when the file used LF.
    expect(received.map((b) => b.toString())).toEqual(
      ['ONE00001', 'TWO00001', 'TWO00002', 'TWO00003', 'BAT00001', 'BAT00002'].map((id) => msg(id)),
    );
  });

  it('prints the code and text of a negative ACK and exits 1', async () => {
    const f = file('mixed.hl7', msg('MIX00001') + msg('MIX0000E') + msg('MIX00003'));
    const r = await send(['--port', String(server.port), f]);
    expect(r.stdout.split('\n')).toEqual([
      `${f}\t1\tMIX00001\tAA\t`,
      `${f}\t2\tMIX0000E\tAE\tunknown patient`,
      `${f}\t3\tMIX00003\tAA\t`,
      '',
    ]);
    expect(r.stderr).toContain('2 accepted, 1 not accepted');
    expect(r.status).toBe(1);
  });

  it('reports a message left unacknowledged as timeout after --timeout-ms, and goes on', async () => {
    const f = file('silent.hl7', msg('SIL0000N') + msg('SIL00002'));
    const started = Date.now();
    const r = await send(['--port', String(server.port), '--timeout-ms', '300', f]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(r.stdout.split('\n')).toEqual([
      `${f}\t1\tSIL0000N\ttimeout\tmllp.ack_timeout: no acknowledgement within 300 ms`,
      `${f}\t2\tSIL00002\tAA\t`,
      '',
    ]);
    expect(r.status).toBe(1);
  });

  it('reports the files it cannot read and still sends the others', async () => {
    const good = file('good.hl7', msg('GOOD0001'));
    const bad = file('bad.hl7', 'this is not HL7\n');
    const r = await send(['--port', String(server.port), bad, join(dir, 'missing.hl7'), good]);
    expect(r.stdout).toBe(`${good}\t1\tGOOD0001\tAA\t\n`);
    expect(r.stderr).toContain(`sinew send: ${bad}: hl7.segment_name`);
    expect(r.stderr).toContain(`sinew send: ${join(dir, 'missing.hl7')}: cannot read the file (ENOENT)`);
    expect(r.stderr).toContain('2 file(s) unreadable');
    expect(r.status).toBe(1);
  });

  it('marks every message as not sent when no connection can be made, and exits 1', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const f = file('nowhere.hl7', msg('NOW00001') + msg('NOW00002'));
    const r = await send(['--port', String(port), f]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^${f}\\t1\\tNOW00001\\terror\\tmllp.connect_failed: could not connect \\(ECONNREFUSED\\)$`),
    );
    expect(lines[1]).toMatch(new RegExp(`^${f}\\t2\\tNOW00002\\tnot-sent\\tmllp.connect_failed`));
    expect(r.status).toBe(1);
  });

  it('exits 2 on usage errors', async () => {
    const f = file('usage.hl7', msg('USE00001'));
    for (const args of [
      [f],
      ['--port', 'abc', f],
      ['--port', '2575'],
      ['--port', '2575', '--cert', 'c.pem', f],
    ]) {
      const r = await send(args);
      expect({ args, status: r.status }).toEqual({ args, status: 2 });
      expect(r.stdout).toBe('');
    }
    expect(received).toEqual([]);
  });

  itWithPeer(opensslPeer, 'sends over mutual TLS with --ca, --cert and --key', async () => {
    const pki = createTestPki();
    const tlsServer = new MllpServer(
      { port: 0, tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca, requestCert: true } },
      peerHandler(received),
    );
    await tlsServer.start();
    try {
      const f = file('tls.hl7', msg('TLS00001'));
      const tlsArgs = ['--ca', pki.caPath, '--cert', pki.client.certPath, '--key', pki.client.keyPath];
      const r = await send(['--port', String(tlsServer.port), ...tlsArgs, f]);
      expect(r.stdout).toBe(`${f}\t1\tTLS00001\tAA\t\n`);
      expect(r.status).toBe(0);
      const refused = await send(['--port', String(tlsServer.port), '--ca', pki.caPath, f]);
      expect(refused.stdout).toMatch(/\terror\tmllp\.tls_handshake: /);
      expect(refused.status).toBe(1);
      expect(received).toHaveLength(1);
    } finally {
      await tlsServer.stop(1_000);
      pki.remove();
    }
  });
});
