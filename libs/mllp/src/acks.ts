import {
  Hl7ErrorCode,
  Hl7ErrorCondition,
  Hl7Message,
  Hl7ParseError,
  buildAck,
  buildNackForUnparsable,
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
 * from the first line when it is a readable MSH.
 */
export function parseErrorNack(message: Buffer, error: Hl7ParseError): Buffer {
  return buildNackForUnparsable(message, {
    code: 'AE',
    text: error.toString(),
    errorCode: parseErrorCondition(error.code),
  });
}

/** AR (ERR 207) for a message whose handler failed: the sender should send it again later. */
export function handlerFailureNack(message: Buffer): Buffer {
  return buildNackForUnparsable(message, {
    code: 'AR',
    text: 'the receiving application could not process the message; send it again later',
    errorCode: Hl7ErrorCondition.ApplicationInternalError,
  });
}

/** AR (ERR 207) for a frame over the size limit, built from the frame's first bytes. */
export function oversizeNack(head: Buffer, maxMessageBytes: number): Buffer {
  return buildNackForUnparsable(head, {
    code: 'AR',
    text: `message too large: the limit is ${maxMessageBytes} bytes (mllp.frame_too_large)`,
    errorCode: Hl7ErrorCondition.ApplicationInternalError,
  });
}

/** Header fields without which a message cannot be routed or acknowledged. */
const REQUIRED_HEADER_FIELDS: ReadonlyArray<[string, string]> = [
  ['MSH-9.1', 'message type'],
  ['MSH-10', 'message control id'],
];

/**
 * The header policy every receiver of Sinew applies (`sinew start` and `sinew listen`): a
 * message without MSH-9 (type) or MSH-10 (control id) is refused, AE with ERR-3 101.
 */
export function headerProblem(message: Hl7Message): { location: string; text: string } | undefined {
  const missing = REQUIRED_HEADER_FIELDS.find(([path]) => message.get(path) === '');
  if (!missing) return undefined;
  const [location, name] = missing;
  return { location, text: `required field ${location} (${name}) is missing` };
}

/**
 * A ready-made handler: parses each message and answers AA once `onMessage` (when given)
 * has finished with it, or AE with an ERR segment when the message cannot be parsed or lacks
 * MSH-9 or MSH-10 (never AA for bytes that are not HL7). When `onMessage` throws, the server answers AR.
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
    const missing = headerProblem(message);
    if (missing) {
      const { location, text } = missing;
      return buildAck(message, {
        code: 'AE',
        text,
        error: { code: Hl7ErrorCondition.RequiredFieldMissing, location, text },
      });
    }
    if (onMessage) await onMessage(message, context);
    return buildAck(message, { code: 'AA' });
  };
}
