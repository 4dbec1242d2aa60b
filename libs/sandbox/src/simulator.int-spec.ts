import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hl7Message, buildAck } from '@sinew/hl7v2';
import { MllpServer } from '@sinew/mllp';
import { generateClinic, simulate, type SandboxChannel, type SandboxMessage } from '@sinew/sandbox';

jest.setTimeout(30_000);

interface Arrival {
  controlId: string;
  patient: string;
  channel: SandboxChannel;
  receivedAt: number;
  ackedAt?: number;
}

/**
 * A listener per channel that records when each message arrives and when its ACK leaves,
 * answering with `answer(message)` after `delayMs`.
 */
async function listeners(
  answer: (msg: Hl7Message) => 'AA' | 'AE' | 'AR',
  delayMs: Partial<Record<SandboxChannel, number>> = {},
) {
  const arrivals: Arrival[] = [];
  const servers: MllpServer[] = [];
  const targets = {} as Record<SandboxChannel, { host: string; port: number }>;
  for (const channel of ['adt', 'siu', 'lab', 'dft'] as const) {
    const server = new MllpServer({ port: 0, host: '127.0.0.1' }, async (bytes) => {
      const msg = Hl7Message.parse(bytes);
      const arrival: Arrival = {
        controlId: msg.controlId,
        patient: msg.get('PID-3.1'),
        channel,
        receivedAt: performance.now(),
      };
      arrivals.push(arrival);
      await sleep(delayMs[channel] ?? 0);
      arrival.ackedAt = performance.now();
      const code = answer(msg);
      return buildAck(msg, { code, text: code === 'AA' ? '' : `refused ${msg.controlId}` });
    });
    await server.start();
    servers.push(server);
    targets[channel] = { host: '127.0.0.1', port: server.port };
  }
  return {
    arrivals,
    targets,
    stop: () => Promise.all(servers.map((s) => s.stop(1_000))),
  };
}

describe('the sandbox simulator against real MLLP listeners', () => {
  const clinic = generateClinic({ seed: 5, patients: 400, days: 3 });

  it('sends every message at the chosen rate, in order per patient across channels, and counts the ACKs', async () => {
    // Grouped by patient (each patient's own order kept), so that a patient's messages follow
    // one another closely, to different channels.
    const patients = [...new Set(clinic.messages.map((m) => m.patient))];
    const messages = patients.flatMap((p) => clinic.messages.filter((m) => m.patient === p)).slice(0, 120);
    expect(new Set(messages.map((m) => m.patient)).size).toBeLessThan(100);
    // The ADT listener is slow: a patient's next message must still wait for the A04's ACK.
    const peers = await listeners(() => 'AA', { adt: 40 });
    try {
      const report = await simulate(messages, { targets: peers.targets, rate: 60 });
      expect(report.sent).toBe(120);
      expect(report.unsent).toBe(0);
      expect(report.stoppedBy).toBe('done');
      expect(report.acks).toEqual({ AA: 120 });
      expect(report.failures).toEqual({});
      // 120 messages at 60/s: two seconds, within tolerance.
      expect(report.elapsedMs).toBeGreaterThan(1_900);
      expect(report.elapsedMs).toBeLessThan(2_900);
      expect(peers.arrivals).toHaveLength(120);
      // Each channel received its own messages.
      const channelOf = new Map(messages.map((m) => [m.controlId, m.channel]));
      for (const a of peers.arrivals) expect(a.channel).toBe(channelOf.get(a.controlId));
      // Per patient: the order generated, and each sent only after the previous one's ACK.
      const byPatient = new Map<string, Arrival[]>();
      for (const a of [...peers.arrivals].sort((x, y) => x.receivedAt - y.receivedAt)) {
        byPatient.set(a.patient, [...(byPatient.get(a.patient) ?? []), a]);
      }
      for (const [patient, list] of byPatient) {
        const expected = messages.filter((m) => m.patient === patient).map((m) => m.controlId);
        expect(list.map((a) => a.controlId)).toEqual(expected);
        for (let i = 1; i < list.length; i++) {
          expect(list[i]!.receivedAt).toBeGreaterThanOrEqual(list[i - 1]!.ackedAt!);
        }
      }
      // The pace: the first 60 arrivals spread over about a second, not in a burst.
      const times = peers.arrivals.map((a) => a.receivedAt).sort((x, y) => x - y);
      expect(times[59]! - times[0]!).toBeGreaterThan(850);
    } finally {
      await peers.stop();
    }
  });

  it('counts negative ACKs by code and names the messages they refused', async () => {
    // Every message of patients who were charged or cancelled.
    const chosen = new Set(
      clinic.messages
        .filter((m) => m.type === 'DFT^P03' || m.type === 'SIU^S15')
        .slice(0, 25)
        .map((m) => m.patient),
    );
    const messages = clinic.messages.filter((m) => chosen.has(m.patient));
    const total = messages.length;
    const peers = await listeners((msg) =>
      msg.get('MSH-9.1') === 'DFT' ? 'AE' : msg.get('MSH-9.2') === 'S15' ? 'AR' : 'AA',
    );
    try {
      const report = await simulate(messages, { targets: peers.targets, rate: 400 });
      const count = (p: (m: SandboxMessage) => boolean) => messages.filter(p).length;
      const ae = count((m) => m.type === 'DFT^P03');
      const ar = count((m) => m.type === 'SIU^S15');
      expect(ae).toBeGreaterThan(0);
      expect(ar).toBeGreaterThan(0);
      expect(report.acks).toEqual({ AA: total - ae - ar, AE: ae, AR: ar });
      expect(report.sent).toBe(total);
      expect(report.problems.length).toBe(Math.min(20, ae + ar));
      const firstDft = messages.find((m) => m.type === 'DFT^P03')!;
      expect(report.problems).toContainEqual({
        controlId: firstDft.controlId,
        type: 'DFT^P03',
        outcome: 'AE',
        text: `refused ${firstDft.controlId}`,
      });
    } finally {
      await peers.stop();
    }
  });

  it('stops cleanly after the duration, waiting for the ACKs of what it sent', async () => {
    const peers = await listeners(() => 'AA', { lab: 20 });
    try {
      const report = await simulate(clinic.messages, {
        targets: peers.targets,
        rate: 100,
        durationMs: 1_000,
      });
      expect(report.stoppedBy).toBe('duration');
      expect(report.sent).toBeGreaterThan(80);
      expect(report.sent).toBeLessThanOrEqual(101);
      expect(report.unsent).toBe(clinic.messages.length - report.sent);
      expect(report.acks.AA).toBe(report.sent);
      expect(peers.arrivals.every((a) => a.ackedAt !== undefined)).toBe(true);
      expect(peers.arrivals).toHaveLength(report.sent);
    } finally {
      await peers.stop();
    }
  });

  it('stops when its signal aborts, and reports listeners that cannot be reached', async () => {
    const peers = await listeners(() => 'AA');
    const port = peers.targets.adt.port;
    await peers.stop();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const report = await simulate(clinic.messages, {
      targets: {
        adt: { host: '127.0.0.1', port },
        siu: { host: '127.0.0.1', port },
        lab: { host: '127.0.0.1', port },
        dft: { host: '127.0.0.1', port },
      },
      rate: 50,
      signal: controller.signal,
    });
    expect(report.stoppedBy).toBe('signal');
    expect(report.sent).toBeGreaterThan(0);
    expect(report.sent).toBeLessThan(30);
    expect(report.acks).toEqual({});
    expect(report.failures.connection_failed).toBe(report.sent);
  });
});
