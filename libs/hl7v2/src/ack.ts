import { encodingForCharset } from './charset';
import { DEFAULT_DELIMITERS, readDelimiters } from './delimiters';
import { Hl7ErrorCode, Hl7ParseError } from './errors';
import { Hl7Message, hl7Now, newControlId } from './message';
import { parsePath } from './path';
import { nthPiece } from './segment';

/** Acknowledgment codes (HL7 table 0008): original mode AA/AE/AR, enhanced mode CA/CE/CR. */
export const AckCode = {
  /** Original mode: application accept. */
  AA: 'AA',
  /** Original mode: application error (the sender should not resend as is). */
  AE: 'AE',
  /** Original mode: application reject (e.g. unsupported type, or a transient failure). */
  AR: 'AR',
  /** Enhanced mode: commit accept. */
  CA: 'CA',
  /** Enhanced mode: commit error. */
  CE: 'CE',
  /** Enhanced mode: commit reject. */
  CR: 'CR',
} as const;
export type AckCode = (typeof AckCode)[keyof typeof AckCode];

/** HL7 table 0357, message error condition codes. */
export const Hl7ErrorCondition = {
  MessageAccepted: '0',
  SegmentSequenceError: '100',
  RequiredFieldMissing: '101',
  DataTypeError: '102',
  TableValueNotFound: '103',
  ValueTooLong: '104',
  UnsupportedMessageType: '200',
  UnsupportedEventCode: '201',
  UnsupportedProcessingId: '202',
  UnsupportedVersionId: '203',
  UnknownKeyIdentifier: '204',
  DuplicateKeyIdentifier: '205',
  ApplicationRecordLocked: '206',
  ApplicationInternalError: '207',
} as const;
export type Hl7ErrorCondition = (typeof Hl7ErrorCondition)[keyof typeof Hl7ErrorCondition];

const CONDITION_TEXT: Record<string, string> = {
  '0': 'Message accepted',
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '104': 'Value too long',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier',
  '206': 'Application record locked',
  '207': 'Application internal error',
};

/** Severity of an ERR segment (HL7 table 0516). */
export type ErrorSeverity = 'E' | 'W' | 'I' | 'F';

export interface AckError {
  /** HL7 table 0357 code, e.g. `207`. */
  code: string;
  severity?: ErrorSeverity;
  /** Where the error is, as an HL7 path: `PID-7`, `OBX[2]-5`. */
  location?: string;
  /** Text for a person; must not contain patient data. */
  text?: string;
}

export interface AckOptions {
  code: AckCode;
  /** MSA-3 text (and the ERR text when no `error.text` is given). */
  text?: string;
  /** ERR segment content. Written for AE/AR/CE/CR; a code is required for those. */
  error?: AckError;
  /** MSH-3/MSH-4 of the ACK when the original's MSH-5/MSH-6 are empty. */
  sendingApplication?: string;
  sendingFacility?: string;
  /** MSH-10 of the ACK (default: a new unique id). */
  controlId?: string;
}

const NEGATIVE = new Set<string>(['AE', 'AR', 'CE', 'CR']);

function isSupportedCharset(msh18: string): boolean {
  try {
    encodingForCharset(msh18);
    return true;
  } catch {
    return false;
  }
}

function versionAtLeast(version: string, major: number, minor: number, patch = 0): boolean {
  const [a = 0, b = 0, c = 0] = version.split('.').map((n) => Number.parseInt(n, 10) || 0);
  if (a !== major) return a > major;
  if (b !== minor) return b > minor;
  return c >= patch;
}

/**
 * Builds the acknowledgement of `original`: sender and receiver swapped (MSH-3..6), MSH-9
 * `ACK^<trigger>^ACK` (the trigger and structure as the original's version writes them),
 * a unique MSH-10, MSH-11/MSH-12/MSH-18 echoed, MSA-2 = the original MSH-10, and an ERR
 * segment for negative codes.
 */
export function buildAck(original: Hl7Message, options: AckOptions): Hl7Message {
  const d = original.delimiters;
  const version = original.get('MSH-12.1');
  const ack = Hl7Message.create({
    type: 'ACK',
    delimiters: d,
    controlId: options.controlId ?? newControlId(),
    dateTime: hl7Now(),
  });
  const swap: Array<[number, number, string | undefined]> = [
    [3, 5, options.sendingApplication],
    [4, 6, options.sendingFacility],
    [5, 3, undefined],
    [6, 4, undefined],
  ];
  for (const [to, from, fallback] of swap) {
    const raw = original.getRaw(`MSH-${from}`);
    if (raw !== '') ack.setRaw(`MSH-${to}`, raw);
    else if (fallback) ack.set(`MSH-${to}`, fallback);
  }
  const trigger = original.getRaw('MSH-9.2');
  let type = 'ACK';
  if (trigger !== '') {
    type += d.component + trigger;
    if (original.getRaw('MSH-9.3') !== '' || versionAtLeast(version, 2, 3, 1)) type += d.component + 'ACK';
  }
  ack.setRaw('MSH-9', type);
  ack.setRaw('MSH-11', original.getRaw('MSH-11') || 'P');
  ack.setRaw('MSH-12', original.getRaw('MSH-12') || '2.5.1');
  // The ACK names the original's character set only when Sinew can write it.
  const charset = original.getRaw('MSH-18');
  const firstCharset = charset.split(original.delimiters.repetition)[0] ?? '';
  if (charset !== '' && isSupportedCharset(firstCharset)) ack.setRaw('MSH-18', firstCharset);
  ack.encoding = original.encoding;

  const msa = ack.addSegment('MSA', [options.code, { raw: original.getRaw('MSH-10') }]);
  if (options.text) msa.setField(3, ack.encode(options.text));

  if (NEGATIVE.has(options.code)) {
    const error = options.error ?? { code: Hl7ErrorCondition.ApplicationInternalError };
    addErr(ack, error, options.text, version);
  }
  return ack;
}

function errorLocation(location: string | undefined): string[] {
  if (!location) return [];
  try {
    const p = parsePath(location);
    const parts = [p.segment, p.occurrence === '*' ? '' : String(p.occurrence)];
    if (p.field !== undefined) {
      parts.push(String(p.field), p.repetition === '*' ? '' : String(p.repetition));
      if (p.component !== undefined) parts.push(String(p.component));
      if (p.subcomponent !== undefined) parts.push(String(p.subcomponent));
    }
    return parts;
  } catch {
    return [];
  }
}

function addErr(ack: Hl7Message, error: AckError, fallbackText: string | undefined, version: string): void {
  const d = ack.delimiters;
  const text = error.text ?? fallbackText ?? CONDITION_TEXT[error.code] ?? '';
  const where = errorLocation(error.location).map((p) => ack.encode(p));
  const codeCwe = [error.code, CONDITION_TEXT[error.code] ?? '', 'HL70357'].map((p) => ack.encode(p));
  const err = ack.addSegment('ERR');
  if (versionAtLeast(version || '2.5', 2, 5)) {
    if (where.length > 0) err.setField(2, where.join(d.component));
    err.setField(3, codeCwe.join(d.component));
    err.setField(4, error.severity ?? 'E');
    if (text) err.setField(8, ack.encode(text));
  } else {
    // Before v2.5, ERR-1 (ELD) carries segment^sequence^field^code.
    const sub = d.subcomponent;
    const code = sub ? codeCwe.join(sub) : ack.encode(error.code);
    err.setField(1, [where[0] ?? '', where[1] ?? '', where[2] ?? '', code].join(d.component));
  }
}

export interface AckResult {
  /** MSA-1 (AA, AE, AR, CA, CE, CR). */
  code: string;
  /** MSA-2: the control id of the message this acknowledges. */
  controlId: string;
  /** MSA-3 text. */
  text: string;
  /** Text of each ERR segment (ERR-8, else ERR-3.2 / ERR-1.4.2, else the error code). */
  errors: string[];
  /** True for AA and CA. */
  accepted: boolean;
}

/** Reads a peer's acknowledgement. Throws `hl7.ack.invalid` when there is no MSA. */
export function readAck(msg: Hl7Message): AckResult {
  if (!msg.segment('MSA')) {
    throw new Hl7ParseError(Hl7ErrorCode.AckInvalid, 'the reply has no MSA segment', { segment: 'MSA' });
  }
  const code = msg.get('MSA-1').toUpperCase();
  const errors: string[] = [];
  const d = msg.delimiters;
  const piece = (raw: string, ...path: number[]): string => {
    let text: string | undefined = raw;
    const seps = [d.repetition, d.component, d.subcomponent];
    path.forEach((n, i) => {
      text = text === undefined ? undefined : nthPiece(text, seps[i], n);
    });
    return text === undefined || text === '""' ? '' : msg.decode(text);
  };
  for (const err of msg.segmentsNamed('ERR')) {
    const text =
      piece(err.field(8), 1) ||
      piece(err.field(7), 1) ||
      piece(err.field(3), 1, 2) ||
      piece(err.field(1), 1, 4, 2) ||
      piece(err.field(3), 1, 1) ||
      piece(err.field(1), 1, 4, 1);
    if (text) errors.push(text);
  }
  return {
    code,
    controlId: msg.get('MSA-2'),
    text: msg.get('MSA-3'),
    errors,
    accepted: code === 'AA' || code === 'CA',
  };
}

export interface UnparsableNackOptions {
  code: 'AE' | 'AR' | 'CE' | 'CR';
  /** Text for the sender; must not contain patient data. */
  text: string;
  /** HL7 table 0357 code, e.g. `100` or `207`. */
  errorCode: string;
}

/**
 * A negative ACK for bytes that could not be parsed as a message. It salvages the sender's
 * delimiters, MSH-3..6, MSH-10 and MSH-12 from the first line when that line is a readable
 * MSH, so the sender can correlate the reply; otherwise MSA-2 is empty.
 */
export function buildNackForUnparsable(bytes: Buffer, options: UnparsableNackOptions): Buffer {
  let start = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  while (start < bytes.length && (bytes[start] === 0x0d || bytes[start] === 0x0a || bytes[start] === 0x20))
    start++;
  const crAt = bytes.indexOf(0x0d, start);
  const lfAt = bytes.indexOf(0x0a, start);
  const ends = [crAt, lfAt, Math.min(bytes.length, start + 64 * 1024)].filter((n) => n >= 0);
  const line = bytes.toString('latin1', start, Math.min(...ends));
  let original: Hl7Message | undefined;
  if (line.startsWith('MSH')) {
    try {
      readDelimiters(line);
      original = Hl7Message.parse(line);
    } catch {
      original = undefined;
    }
  }
  const error: AckError = { code: options.errorCode, text: options.text };
  if (original) return buildAck(original, { code: options.code, text: options.text, error }).toBuffer();
  const placeholder = Hl7Message.create({ type: 'ACK', delimiters: { ...DEFAULT_DELIMITERS } });
  placeholder.setRaw('MSH-10', '');
  return buildAck(placeholder, { code: options.code, text: options.text, error }).toBuffer();
}
