import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { openStore } from '@sinew/store';
import { freePort, startEngineProcess, type EngineProcess } from '@sinew/test-support/engine-process';
import { waitFor } from '@sinew/test-support/wait';

const eventually = <T>(what: string, probe: () => T | undefined | false) => waitFor(what, probe, 60_000);

jest.setTimeout(120_000);

/** One MLLP connection kept open: one message in flight at a time, replies read in order. */
class Connection {
  private buffer = Buffer.alloc(0);
  private waiting?: (reply: Buffer) => void;
  closed = false;
  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      const end = this.buffer.indexOf(0x1c);
      if (end >= 0 && this.waiting) {
        const reply = this.buffer.subarray(1, end);
        this.buffer = this.buffer.subarray(end + 2);
        const w = this.waiting;
        this.waiting = undefined;
        w(reply);
      }
    });
    socket.on('close', () => (this.closed = true));
  }
  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Connection(s)));
      s.once('error', reject);
    });
  }
  send(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ACK within 10 s')), 10_000);
      this.waiting = (reply) => {
        clearTimeout(timer);
        resolve(readAck(Hl7Message.parse(reply)).code);
      };
      this.socket.write(
        Buffer.concat([
          Buffer.from([0x0b]),
          Buffer.from(text.replace(/\n/g, '\r')),
          Buffer.from([0x1c, 0x0d]),
        ]),
      );
    });
  }
  close(): void {
    this.socket.destroy();
  }
}

const oru = (id: string) =>
  `MSH|^~\\&|LAB|NORTH|SINEW|CLINIC|20260101120000||ORU^R01^ORU_R01|${id}|P|2.5.1
PID|1||MRN-${id}^^^CLINIC^MR||Test^Patient
OBR|1|||1^Test
OBX|1|NM|2^Value||7`;

describe('live deploy under load (sinew start, SIGHUP)', () => {
  let dir: string;
  let engine: EngineProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-deploy-'));
    mkdirSync(join(dir, 'channels'));
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const channel = (id: string, port: number, extra = '') => `id: ${id}
source: { type: mllp, listen: ${port} }
destinations:
  - name: out
    type: file
    directory: ${join(dir, `out-${id}`)}
    retry: { attempts: 3 }
${extra}`;

  it('swaps a changed channel while messages flow: none lost or doubled, no connection dropped; a broken version is refused', async () => {
    const portA = await freePort();
    const portB = await freePort();
    writeFileSync(join(dir, 'channels', 'a.yaml'), channel('a', portA));
    writeFileSync(join(dir, 'channels', 'b.yaml'), channel('b', portB));
    engine = await startEngineProcess({ channelsDir: join(dir, 'channels'), dataDir: join(dir, 'data') });
    const a = await Connection.open(portA);
    const b = await Connection.open(portB);
    expect(await b.send(oru('B-1'))).toBe('AA');

    const codes: string[] = [];
    let n = 0;
    let running = true;
    const load = (async () => {
      while (running) codes.push(await a.send(oru(`A-${++n}`)));
    })();
    await eventually('100 messages', () => n >= 100);
    // A second destination on channel a: the same listen address, so its socket stays.
    writeFileSync(
      join(dir, 'channels', 'a.yaml'),
      channel(
        'a',
        portA,
        `  - name: archive
    type: file
    directory: ${join(dir, 'archive-a')}
    payload: raw
    retry: { attempts: 3 }
`,
      ),
    );
    const sentBefore = n;
    engine.child.kill('SIGHUP');
    await eventually('the redeploy', () => engine!.stdout.includes('channels redeployed'));
    await eventually('100 more messages', () => n >= sentBefore + 100);
    running = false;
    await load;
    expect(await b.send(oru('B-2'))).toBe('AA');

    // A version that does not compile leaves the running one as it is.
    writeFileSync(join(dir, 'channels', 'a.yaml'), 'id: a\nsource: { type: mllp, listen: nope }\n');
    engine.child.kill('SIGHUP');
    await eventually('the refusal', () => engine!.stdout.includes('redeploy refused'));
    expect(await a.send(oru('A-after-refusal'))).toBe('AA');
    expect(a.closed || b.closed).toBe(false);

    const sent = n + 1;
    expect(codes.filter((c) => c !== 'AA')).toEqual([]);
    await eventually(
      'every delivery written',
      () => readdirSync(join(dir, 'out-a')).filter((f) => f.endsWith('.hl7')).length >= sent,
    );
    a.close();
    b.close();
    expect(await engine.stop()).toBe(0);
    engine = undefined;

    let onSecond = 0;
    const store = await openStore({ dataDir: join(dir, 'data') });
    try {
      const messages = await store.searchMessages({ channelId: 'a', limit: 100_000 });
      const ids = new Set(messages.map((m) => m.controlId));
      expect(messages).toHaveLength(sent);
      expect(ids.size).toBe(sent);
      // Every message records the version that received it; the history has all three attempts.
      const versions = new Set(messages.map((m) => m.channelVersion));
      expect([...versions].sort()).toEqual([1, 2]);
      // Each ran on the version that received it: those acknowledged before the signal on the
      // first; only the second's messages were archived.
      const early = messages.filter((m) => Number(m.controlId?.slice(2)) < sentBefore);
      expect(early.length).toBe(sentBefore - 1);
      expect(early.every((m) => m.channelVersion === 1)).toBe(true);
      onSecond = messages.filter((m) => m.channelVersion === 2).length;
      const history = await store.listDeployments('a');
      expect(history.map((d) => [d.version, d.outcome, d.deployedBy])).toEqual([
        [3, 'refused', 'signal'],
        [2, 'deployed', 'signal'],
        [1, 'deployed', 'startup'],
      ]);
    } finally {
      await store.close();
    }
    expect(readdirSync(join(dir, 'out-a')).filter((f) => f.endsWith('.hl7'))).toHaveLength(sent);
    const archived = readdirSync(join(dir, 'archive-a')).length;
    expect(archived).toBeGreaterThan(0);
    expect(archived).toBe(onSecond);
    process.stdout.write(
      `live deploy under load: sent ${sent}, acknowledged AA ${codes.length + 1}, delivered ${sent}, archived after the swap ${archived}, connections dropped 0\n`,
    );
  });

  it('switches a channel between unordered and ordered under load, without a restart', async () => {
    const port = await freePort();
    const file = join(dir, 'channels', 'a.yaml');
    writeFileSync(file, channel('a', port));
    engine = await startEngineProcess({ channelsDir: join(dir, 'channels'), dataDir: join(dir, 'data') });
    const a = await Connection.open(port);
    const codes: string[] = [];
    let n = 0;
    let running = true;
    const load = (async () => {
      while (running) codes.push(await a.send(oru(`A-${++n}`)));
    })();
    const redeploys = () => engine!.stdout.split('channels redeployed').length - 1;
    await eventually('50 messages', () => n >= 50);
    writeFileSync(file, channel('a', port).replace('    retry:', '    ordering: channel\n    retry:'));
    engine.child.kill('SIGHUP');
    await eventually('the switch to ordered', () => redeploys() === 1);
    const ordered = n;
    await eventually('100 more messages', () => n >= ordered + 100);
    writeFileSync(file, channel('a', port));
    engine.child.kill('SIGHUP');
    await eventually('the switch back', () => redeploys() === 2);
    const unordered = n;
    await eventually('50 more messages', () => n >= unordered + 50);
    running = false;
    await load;
    expect(codes.filter((c) => c !== 'AA')).toEqual([]);
    expect(a.closed).toBe(false);
    await eventually('every delivery written', () => readdirSync(join(dir, 'out-a')).length >= n);
    expect(engine.stdout).not.toContain('until the engine restarts');
    a.close();
    expect(await engine.stop()).toBe(0);
    engine = undefined;

    const store = await openStore({ dataDir: join(dir, 'data') });
    try {
      const messages = await store.searchMessages({ channelId: 'a', limit: 100_000 });
      expect(messages).toHaveLength(n);
      expect(messages.every((m) => m.status === 'delivered')).toBe(true);
      const byVersion = new Map<number, Array<string | undefined>>();
      for (const m of messages) {
        const [d] = await store.getDeliveries(m.id);
        const keys = byVersion.get(m.channelVersion ?? 0) ?? [];
        keys.push(d?.orderKey);
        byVersion.set(m.channelVersion ?? 0, keys);
      }
      expect([...byVersion.keys()].sort()).toEqual([1, 2, 3]);
      // The ordered version's deliveries carry the channel-wide order key; the others none.
      expect(new Set(byVersion.get(2))).toEqual(new Set(['']));
      expect(new Set([...(byVersion.get(1) ?? []), ...(byVersion.get(3) ?? [])])).toEqual(
        new Set([undefined]),
      );
    } finally {
      await store.close();
    }
    process.stdout.write(
      `ordered/unordered switch under load: sent ${n}, acknowledged AA ${codes.length}, delivered ${n}, connections dropped 0\n`,
    );
  });
});
