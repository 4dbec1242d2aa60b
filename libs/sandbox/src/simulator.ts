import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { MllpClient, type MllpSendResult } from '@sinew/mllp';
import type { SandboxChannel, SandboxMessage } from './generator';

export interface SimulatorTarget {
  host: string;
  port: number;
}

export interface SimulatorOptions {
  /** Where each channel's messages go: the MLLP listener of the channel. */
  targets: Record<SandboxChannel, SimulatorTarget>;
  /** Messages per second offered (the sends start at this pace; a patient's wait for an ACK can delay theirs). */
  rate: number;
  /** Stop after this long even when messages remain (default: when all are sent). */
  durationMs?: number;
  /** Stop when this signal aborts (Ctrl-C). */
  signal?: AbortSignal;
  /** Longest wait for each ACK (default 30,000 ms). */
  ackTimeoutMs?: number;
  /** Most messages awaiting their ACK at once (default 500); the pace slows when reached. */
  maxInFlight?: number;
  /** Called with each message's outcome, in the order the outcomes arrive. */
  onResult?: (message: SandboxMessage, result: MllpSendResult) => void;
}

/** What a run of the simulator did. */
export interface SimulatorReport {
  /** Messages written to a listener. */
  sent: number;
  /** Messages left unsent when the run stopped early. */
  unsent: number;
  /** Acknowledgement codes (MSA-1) received, with their counts: AA, AE, AR, CA, CE, CR. */
  acks: Record<string, number>;
  /** Sends without an ACK: `timeout`, `connection_failed`, `invalid_reply`. */
  failures: Record<string, number>;
  /** Messages sent per message type (`SIU^S12`…). */
  byType: Record<string, number>;
  /** Why the run ended. */
  stoppedBy: 'done' | 'duration' | 'signal';
  elapsedMs: number;
  /** Messages sent per second over the run. */
  achievedRate: number;
  /** The first few messages not acknowledged with AA/CA: their control id, type and ACK text. */
  problems: Array<{ controlId: string; type: string; outcome: string; text: string }>;
}

const PROBLEMS_KEPT = 20;

/**
 * Sends sandbox messages over MLLP to the channels' listeners at `rate` messages per second,
 * one connection per listener (pipelined). A patient's messages go in their order: each is sent
 * only after the ACK of the patient's previous one, whatever channel that went to. Every ACK is
 * checked and counted. Stops when all are sent, after `durationMs`, or when `signal` aborts,
 * and then waits for the ACKs of what it sent before closing the connections.
 */
export async function simulate(
  messages: readonly SandboxMessage[],
  options: SimulatorOptions,
): Promise<SimulatorReport> {
  if (!(options.rate > 0) || !Number.isFinite(options.rate))
    throw new Error('the rate must be a positive number');
  const maxInFlight = options.maxInFlight ?? 500;
  const clients = new Map<string, MllpClient>();
  const clientFor = (channel: SandboxChannel): MllpClient => {
    const target = options.targets[channel];
    const key = `${target.host}:${target.port}`;
    let client = clients.get(key);
    if (!client) {
      client = new MllpClient({
        host: target.host,
        port: target.port,
        ackTimeoutMs: options.ackTimeoutMs ?? 30_000,
        connectTimeoutMs: 10_000,
      });
      clients.set(key, client);
    }
    return client;
  };

  const report: SimulatorReport = {
    sent: 0,
    unsent: 0,
    acks: {},
    failures: {},
    byType: {},
    stoppedBy: 'done',
    elapsedMs: 0,
    achievedRate: 0,
    problems: [],
  };
  const lastOfPatient = new Map<string, Promise<void>>();
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  const interval = 1000 / options.rate;
  const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;

  const record = (message: SandboxMessage, result: MllpSendResult) => {
    if (result.code !== '') report.acks[result.code] = (report.acks[result.code] ?? 0) + 1;
    else report.failures[result.status] = (report.failures[result.status] ?? 0) + 1;
    if (result.status !== 'accepted' && report.problems.length < PROBLEMS_KEPT) {
      report.problems.push({
        controlId: message.controlId,
        type: message.type,
        outcome: result.code || result.status,
        text: result.code
          ? [...new Set([result.text, ...result.errors])].filter((t) => t).join('; ')
          : String(result.error ?? ''),
      });
    }
    options.onResult?.(message, result);
  };

  let i = 0;
  for (; i < messages.length; i++) {
    const due = started + i * interval;
    const now = performance.now();
    if (options.signal?.aborted) {
      report.stoppedBy = 'signal';
      break;
    }
    if (Math.max(due, now) >= deadline) {
      report.stoppedBy = 'duration';
      break;
    }
    if (due > now) await pause(due - now, options.signal);
    if (options.signal?.aborted) {
      report.stoppedBy = 'signal';
      break;
    }
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    const message = messages[i] as SandboxMessage;
    const client = clientFor(message.channel);
    const previous = lastOfPatient.get(message.patient);
    const send = async () => {
      if (previous) await previous;
      report.sent++;
      report.byType[message.type] = (report.byType[message.type] ?? 0) + 1;
      let result: MllpSendResult;
      try {
        result = await client.send(message.text);
      } catch (err) {
        report.failures.invalid_message = (report.failures.invalid_message ?? 0) + 1;
        if (report.problems.length < PROBLEMS_KEPT) {
          report.problems.push({
            controlId: message.controlId,
            type: message.type,
            outcome: 'invalid_message',
            text: String(err),
          });
        }
        return;
      }
      record(message, result);
    };
    const done: Promise<void> = send().finally(() => {
      inFlight.delete(done);
      if (lastOfPatient.get(message.patient) === done) lastOfPatient.delete(message.patient);
    });
    inFlight.add(done);
    lastOfPatient.set(message.patient, done);
  }
  report.unsent = messages.length - i;
  await Promise.all(inFlight);
  await Promise.all([...clients.values()].map((c) => c.close()));
  report.elapsedMs = Math.round(performance.now() - started);
  report.achievedRate =
    report.elapsedMs > 0 ? Math.round((report.sent / report.elapsedMs) * 100_000) / 100 : 0;
  return report;
}

/** Waits `ms`, or less when the signal aborts. */
async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  }
}

/** The report as the lines `sinew sandbox` prints. */
export function formatReport(report: SimulatorReport): string {
  const codes = Object.entries(report.acks)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, n]) => `${code}=${n}`)
    .join(' ');
  const failures = Object.entries(report.failures)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([what, n]) => `${what}=${n}`)
    .join(' ');
  const types = Object.entries(report.byType)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, n]) => `${type}=${n}`)
    .join(' ');
  const lines = [
    `messages sent: ${report.sent}${report.unsent > 0 ? ` (${report.unsent} not sent: stopped by ${report.stoppedBy})` : ''}`,
    `acks: ${codes || 'none'}`,
    `no ack: ${failures || 'none'}`,
    `by type: ${types || 'none'}`,
    `elapsed: ${(report.elapsedMs / 1000).toFixed(1)} s, ${report.achievedRate} messages/s`,
  ];
  for (const p of report.problems)
    lines.push(`not accepted: ${p.controlId} ${p.type} ${p.outcome} ${p.text}`.trimEnd());
  return `${lines.join('\n')}\n`;
}
