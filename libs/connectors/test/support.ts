import { Hl7Message, buildAck } from '@sinew/hl7v2';
import type { ConnectorLogger, Disposition, IngestFn, IngestReply, IngestRequest } from '../src/connector';

/** A synthetic ADT^A01 (no real patient) with the given MSH-10. */
export function adt(controlId: string): Buffer {
  return Buffer.from(
    [
      `MSH|^~\\&|LAB|NORTH|SINEW|CLINIC|20250101120000||ADT^A01^ADT_A01|${controlId}|P|2.5.1`,
      'EVN|A01|20250101120000',
      'PID|1||TEST-0001^^^CLINIC^MR||Testpatient^Alpha||19700101|U',
      'PV1|1|O',
      '',
    ].join('\r'),
    'utf8',
  );
}

/** The ACK (code AA/AE/AR…) of an HL7 v2 message, as the engine would build it. */
export function ackFor(body: Buffer, code: 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR', text?: string): Buffer {
  const message = Hl7Message.parse(body);
  return buildAck(message, {
    code,
    ...(text ? { text } : {}),
    ...(code === 'AA' || code === 'CA' ? {} : { error: { code: '207', text: text ?? 'refused' } }),
  }).toBuffer();
}

/** A logger that keeps every entry, so tests can check what (and what not) was logged. */
export function recordingLogger(): ConnectorLogger & {
  entries: Array<{ level: string; obj: object; msg?: string }>;
} {
  const entries: Array<{ level: string; obj: object; msg?: string }> = [];
  const log = (level: string) => (obj: object, msg?: string) => {
    entries.push({ level, obj, ...(msg !== undefined ? { msg } : {}) });
  };
  return { entries, info: log('info'), warn: log('warn'), error: log('error') };
}

/** An ingest function answering with `answer` and keeping every request it got. */
export function recordingIngest(
  answer: (request: IngestRequest) => IngestReply | Promise<IngestReply>,
): IngestFn & { requests: IngestRequest[] } {
  const requests: IngestRequest[] = [];
  const fn = async (request: IngestRequest) => {
    requests.push(request);
    return answer(request);
  };
  return Object.assign(fn, { requests });
}
/** Engine answers for source tests, one per disposition kind. */
export const D = {
  accepted: { kind: 'accepted' },
  duplicate: { kind: 'duplicate' },
  rejected: {
    kind: 'rejected',
    reason: 'invalid',
    issue: { code: 'lab.date', message: 'PID-7 is not a date', location: 'PID-7', condition: '102' },
  },
  unavailable: {
    kind: 'unavailable',
    issue: {
      code: 'ledger.unavailable',
      message: 'the message could not be stored; send it again later',
      condition: '207',
    },
  },
} as const satisfies Record<string, Disposition>;
