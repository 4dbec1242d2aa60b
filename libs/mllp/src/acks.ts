import {
  DEFAULT_DELIMITERS,
  Hl7ErrorCode,
  Hl7ErrorCondition,
  Hl7Message,
  Hl7ParseError,
  buildAck,
  buildNackForUnparsable,
  type Delimiters,
} from '@sinew/hl7v2';
import type { MllpConnectionContext, MllpHandler } from './handler';

/** HL7 table 0357 condition for a parse error: structure → 100, delimiters/charset → 102. */
export function parseErrorCondition(code: Hl7ErrorCode): string {
  switch (code) {
    case Hl7ErrorCode.Empty:
    case Hl7ErrorCode.NoHeader:
    case Hl7ErrorCode.SegmentName:
    case Hl7ErrorCode.BatchSegmentBeforeHeader:
    case Hl7ErrorCode.BatchStructure:
    case Hl7ErrorCode.BatchDuplicateBhs:
    case Hl7ErrorCode.BatchDuplicateFhs:
    case Hl7ErrorCode.BatchCount:
      return Hl7ErrorCondition.SegmentSequenceError;
    case Hl7ErrorCode.Delimiters:
    case Hl7ErrorCode.Charset:
      return Hl7ErrorCondition.DataTypeError;
    default:
      return Hl7ErrorCondition.ApplicationInternalError;
  }
}

/**
 * AE for a message that cannot be parsed: ERR carries the table 0357 condition of the parse
 * error and its text (which names no message content). MSH-10 and the sender are salvaged
 * from the first line when it is a sound MSH (see {@link answerableBytes}).
 */
export function parseErrorNack(message: Buffer, error: Hl7ParseError): Buffer {
  return safeNack(message, {
    code: 'AE',
    text: error.toString(),
    errorCode: parseErrorCondition(error.code),
  });
}

/** AR (ERR 207) for a message whose handler failed: the sender should send it again later. */
export function handlerFailureNack(message: Buffer): Buffer {
  return safeNack(message, {
    code: 'AR',
    text: 'the receiving application could not process the message; send it again later',
    errorCode: Hl7ErrorCondition.ApplicationInternalError,
  });
}

/** AR (ERR 207) for a frame over the size limit, built from the frame's first bytes. */
export function oversizeNack(head: Buffer, maxMessageBytes: number): Buffer {
  return safeNack(head, {
    code: 'AR',
    text: `message too large: the limit is ${maxMessageBytes} bytes (mllp.frame_too_large)`,
    errorCode: Hl7ErrorCondition.ApplicationInternalError,
  });
}

/**
 * A negative ACK that can always be built: from the message's first line when its header is
 * sound, else with the default delimiters and no MSH-10 to echo.
 */
function safeNack(message: Buffer, options: Parameters<typeof buildNackForUnparsable>[1]): Buffer {
  try {
    return buildNackForUnparsable(answerableBytes(message), options);
  } catch {
    // Nothing of the sender's is echoed, so this one cannot fail on its content.
    return buildNackForUnparsable(Buffer.alloc(0), options);
  }
}

/** Printable ASCII other than letters, digits and space: what a delimiter may be. */
function printableDelimiter(c: string | undefined): boolean {
  if (c === undefined || c.length !== 1) return false;
  const x = c.charCodeAt(0);
  const alnum = (x >= 48 && x <= 57) || (x >= 65 && x <= 90) || (x >= 97 && x <= 122);
  return x > 0x20 && x < 0x7f && !alnum;
}

/** Control characters, and U+FFFD (bytes that did not decode). */
const NOT_TEXT = /[\x00-\x1f\x7f\ufffd]/;

const usesDefaultDelimiters = (d: Delimiters) =>
  d.field === '|' &&
  d.component === '^' &&
  d.repetition === '~' &&
  d.escape === '\\' &&
  (d.subcomponent ?? '&') === '&';

/**
 * Why a parsed header cannot be answered in its own terms; undefined when it can. Its
 * delimiters must be printable ASCII other than letters and digits (the parser already
 * requires them distinct), MSH-9 and MSH-10 plain text, MSH-9.1 of the form of HL7 table 0076,
 * and an ACK must be writable with its delimiters (with `.` as a delimiter, the default
 * version `2.5.1` an ACK needs when MSH-12 is empty cannot be written). Random bytes that
 * happen to start with `MSH` parse with odd delimiters: they fail here.
 */
export function malformedHeader(message: Hl7Message): { location: string; text: string } | undefined {
  const d: Delimiters = message.delimiters;
  if (!printableDelimiter(d.field)) {
    return { location: 'MSH-1', text: 'the field separator (MSH-1) is not a printable character' };
  }
  const encoding = [d.component, d.repetition, d.escape, d.subcomponent, d.truncation];
  if (encoding.some((c) => c !== undefined && !printableDelimiter(c))) {
    return { location: 'MSH-2', text: 'the encoding characters (MSH-2) are not all printable characters' };
  }
  for (const path of ['MSH-9', 'MSH-10']) {
    if (NOT_TEXT.test(message.getRaw(path))) {
      return { location: path, text: `${path} holds control characters or bytes that are not text` };
    }
  }
  const type = message.get('MSH-9.1');
  if (type !== '' && !/^[A-Z0-9]{3}$/.test(type)) {
    return {
      location: 'MSH-9.1',
      text: 'MSH-9.1 is not a message type (three upper-case letters or digits)',
    };
  }
  if (!usesDefaultDelimiters(d)) {
    try {
      buildAck(message, { code: 'AA' });
    } catch {
      return { location: 'MSH-2', text: 'no acknowledgement can be written with these delimiters' };
    }
  }
  return undefined;
}

/**
 * A message to build a reply on: `message` itself when its header is sound, else a stand-in
 * with the default delimiters carrying only its MSH-10 (when that is plain text), so that a
 * reply never echoes delimiters or bytes a peer could not read back.
 */
export function replyBasis(message: Hl7Message): Hl7Message {
  if (!malformedHeader(message)) return message;
  const standIn = Hl7Message.create({ type: 'ACK', delimiters: { ...DEFAULT_DELIMITERS } });
  const controlId = message.getRaw('MSH-10');
  standIn.setRaw(
    'MSH-10',
    /^[\x20-\x7e]{1,199}$/.test(controlId) && !/[|^~\\&]/.test(controlId) ? controlId : '',
  );
  return standIn;
}

/**
 * The bytes to build a negative ACK for unparsable `bytes` from (`buildNackForUnparsable`
 * salvages the first line when it is an MSH): `bytes` when that line is sound or no MSH at
 * all, else the MSH of its {@link replyBasis}.
 */
export function answerableBytes(bytes: Buffer): Buffer {
  let start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (start < bytes.length && (bytes[start] === 0x0d || bytes[start] === 0x0a || bytes[start] === 0x20))
    start++;
  if (bytes.toString('latin1', start, start + 3) !== 'MSH') return bytes;
  let end = start;
  while (end < bytes.length && bytes[end] !== 0x0d && bytes[end] !== 0x0a) end++;
  let header: Hl7Message;
  try {
    header = Hl7Message.parse(bytes.toString('latin1', start, end));
  } catch {
    return bytes;
  }
  return malformedHeader(header) ? replyBasis(header).toBuffer() : bytes;
}

/** Header fields without which a message cannot be routed or acknowledged. */
const REQUIRED_HEADER_FIELDS: ReadonlyArray<[string, string]> = [
  ['MSH-9.1', 'message type'],
  ['MSH-10', 'message control id'],
];

/** What is wrong with a header: where, why, and its HL7 table 0357 condition. */
export interface HeaderProblem {
  location: string;
  text: string;
  /** `header.required` (MSH-9 or MSH-10 missing) or `header.malformed`. */
  code: 'header.required' | 'header.malformed';
  condition: string;
}

/**
 * The header policy every receiver of Sinew applies (`sinew start` and `sinew listen`): a
 * message whose header is malformed ({@link malformedHeader}) or lacks MSH-9 (type) or
 * MSH-10 (control id) is refused, AE with ERR-3 102 or 101. Only a message that passes is
 * ever answered AA.
 */
export function headerProblem(message: Hl7Message): HeaderProblem | undefined {
  const malformed = malformedHeader(message);
  if (malformed) {
    return { ...malformed, code: 'header.malformed', condition: Hl7ErrorCondition.DataTypeError };
  }
  const missing = REQUIRED_HEADER_FIELDS.find(([path]) => message.get(path) === '');
  if (!missing) return undefined;
  const [location, name] = missing;
  return {
    location,
    text: `required field ${location} (${name}) is missing`,
    code: 'header.required',
    condition: Hl7ErrorCondition.RequiredFieldMissing,
  };
}

/**
 * A ready-made handler: parses each message and answers AA once `onMessage` (when given)
 * has finished with it, or AE with an ERR segment when the message cannot be parsed or lacks
 * MSH-9 or MSH-10 or has a malformed header (never AA for bytes that are not HL7). When `onMessage` throws, the server answers AR.
 */
export function ackingHandler(
  onMessage?: (message: Hl7Message, context: MllpConnectionContext) => void | Promise<void>,
): MllpHandler {
  return async (bytes, context) => {
    let message: Hl7Message;
    try {
      message = Hl7Message.parse(bytes);
    } catch (err) {
      if (err instanceof Hl7ParseError) return parseErrorNack(bytes, err);
      throw err;
    }
    const problem = headerProblem(message);
    if (problem) {
      const { location, text, condition } = problem;
      return buildAck(replyBasis(message), {
        code: 'AE',
        text,
        error: { code: condition, location, text },
      });
    }
    if (onMessage) await onMessage(message, context);
    return buildAck(message, { code: 'AA' });
  };
}
