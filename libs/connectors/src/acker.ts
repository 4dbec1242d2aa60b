/**
 * The ackers: the one place per protocol where what happened to a message (a Disposition)
 * becomes the reply the sender reads. HL7 v2 (MLLP, and HL7 bodies over HTTP): an ACK with
 * MSA-1 and an ERR segment; HTTP: a status and, for FHIR and JSON bodies, an OperationOutcome.
 */
import {
  buildAck,
  buildNackForUnparsable,
  Hl7ErrorCondition,
  type AckCode,
  type Hl7Message,
} from '@sinew/hl7v2';
import type { Disposition, DispositionIssue, IngestReply } from './connector';
import { IssueType, operationOutcome } from './operation-outcome';

export type AckMode = 'original' | 'enhanced';

/**
 * MSA-1 for a disposition. Original mode: AA accepted, AE refused for what the message holds
 * (resending it unchanged will not help), AR refused for a reason of the receiver's (not
 * stored, a type it does not take: send it again later or elsewhere). Enhanced mode: the same
 * with CA/CE/CR, except that a message not stored is CE (no commit).
 */
export function hl7AckCode(d: Disposition, mode: AckMode): AckCode {
  const enhanced = mode === 'enhanced';
  switch (d.kind) {
    case 'accepted':
    case 'duplicate':
      return enhanced ? 'CA' : 'AA';
    case 'rejected':
      if (d.reason === 'unsupported') return enhanced ? 'CR' : 'AR';
      return enhanced ? 'CE' : 'AE';
    case 'errored':
      return enhanced ? 'CE' : 'AE';
    case 'unavailable':
      return enhanced ? 'CE' : 'AR';
  }
}

function issueOf(d: Disposition): DispositionIssue | undefined {
  return 'issue' in d ? d.issue : undefined;
}

/**
 * The HL7 v2 ACK for a disposition: to the parsed message when there is one, else built from
 * the first line of the bytes (what could be read of the header).
 */
export function hl7Reply(d: Disposition, received: Hl7Message | Buffer, mode: AckMode): Buffer {
  const code = hl7AckCode(d, mode);
  const issue = issueOf(d);
  if (Buffer.isBuffer(received)) {
    return buildNackForUnparsable(received, {
      code: code === 'AA' || code === 'CA' ? (mode === 'enhanced' ? 'CE' : 'AE') : code,
      text: issue ? `${issue.code}: ${issue.message}` : 'the message could not be read',
      errorCode: issue?.condition ?? Hl7ErrorCondition.ApplicationInternalError,
    });
  }
  return buildAck(received, {
    code,
    ...(issue
      ? {
          text: issue.message,
          error: {
            code: issue.condition,
            severity: 'E',
            ...(issue.location ? { location: issue.location } : {}),
            text: `${issue.code}: ${issue.message}`,
          },
        }
      : {}),
  }).toBuffer();
}

/** The HTTP status for a disposition. */
export function httpStatusOf(d: Disposition, hl7: boolean): number {
  switch (d.kind) {
    case 'accepted':
      return hl7 ? 200 : 202;
    case 'duplicate':
      return 200;
    case 'rejected':
      return d.reason === 'unreadable' ? 400 : d.reason === 'unsupported' ? 415 : 422;
    case 'errored':
      return 422;
    case 'unavailable':
      return 503;
  }
}

export interface HttpReply {
  status: number;
  /** The ACK bytes for HL7 v2, else a JSON value. */
  body: Buffer | unknown;
  contentType: string;
  headers?: Record<string, string>;
}

/**
 * The HTTP reply for the engine's answer: HL7 v2 bodies get the ACK as the body; FHIR and
 * JSON bodies `{ id, status }` when taken, an OperationOutcome naming the issue when not.
 */
export function httpReply(reply: IngestReply, hl7: boolean, retryAfterSeconds: number): HttpReply {
  const d = reply.disposition;
  const status = httpStatusOf(d, hl7);
  const headers = d.kind === 'unavailable' ? { 'retry-after': String(retryAfterSeconds) } : undefined;
  const extra = headers ? { headers } : {};
  if (hl7 && reply.reply) return { status, body: reply.reply, contentType: 'application/hl7-v2', ...extra };
  const id = reply.messageId !== undefined ? { id: reply.messageId } : {};
  if (d.kind === 'accepted' || d.kind === 'duplicate')
    return { status, body: { ...id, status: d.kind }, contentType: 'application/json', ...extra };
  const type =
    d.kind === 'unavailable'
      ? IssueType.Transient
      : d.kind === 'errored'
        ? IssueType.Exception
        : d.reason === 'unsupported'
          ? IssueType.NotSupported
          : d.reason === 'unreadable'
            ? IssueType.Structure
            : IssueType.Invalid;
  const outcome = operationOutcome(type, `${d.issue.code}: ${d.issue.message}`);
  if (d.issue.location) (outcome.issue[0] as { expression?: string[] }).expression = [d.issue.location];
  return { status, body: outcome, contentType: 'application/fhir+json', ...extra };
}
