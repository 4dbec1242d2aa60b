/**
 * What the `file` and `sftp` sources share once a file's bytes are in hand: the settings that
 * choose and read files, the split of an HL7 v2 batch file (checked whole before any message
 * is handed over), and what becomes of the file after the channel answered.
 */
import { Hl7ParseError, parseBatch } from '@sinew/hl7v2';
import { z } from 'zod';
import type { ConnectorLogger, IngestReply, PayloadType } from './connector';

/** Settings of a poller that choose and read files (the same for a folder and an SFTP server). */
export function intakeFields(defaults: { minAgeMs: number }) {
  return {
    pattern: z
      .string()
      .min(1)
      .default('*')
      .describe(
        'Which file names to pick up: a glob on the name (`*` any characters, `?` one character), e.g. `*.hl7`. ' +
          'Names starting with a dot are never picked up (write to `.name.tmp`, then rename).',
      ),
    min_age_ms: z
      .number()
      .int()
      .min(0)
      .default(defaults.minAgeMs)
      .describe(
        'A file is picked up only once it has not changed for this long, so that files still being written are left alone.',
      ),
    content_type: z.enum(['hl7v2', 'fhir', 'json', 'text']).default('hl7v2').describe('What the files hold.'),
    batch: z
      .boolean()
      .default(false)
      .describe(
        'HL7 v2 only: a file may hold several messages (one after another, or an FHS/BHS … BTS/FTS batch); each ' +
          'is handed to the channel on its own. The whole file is checked first (every message readable with ' +
          'its MSH-9 and MSH-10, BTS-1 and FTS-1 counts right): a file that fails goes to `error_directory` ' +
          'with a `.error.txt` note giving the reason, and none of its messages reaches the channel. The file ' +
          'also goes to `error_directory` if the channel rejects any of its messages.',
      ),
    max_file_bytes: z
      .number()
      .int()
      .positive()
      .default(10 * 1024 * 1024)
      .describe('Largest file read, in bytes; a larger one goes to `error_directory` unread.'),
  };
}

/** The refinement every poller config carries: `batch` needs HL7 v2. */
export const batchNeedsHl7: [
  (c: { batch: boolean; content_type: string }) => boolean,
  { message: string; path: string[] },
] = [
  (c) => !c.batch || c.content_type === 'hl7v2',
  { message: 'batch applies to HL7 v2 files only (content_type: hl7v2)', path: ['batch'] },
];

/** What becomes of one file: moved to done, moved to error, or left for the next scan. */
export type FileOutcome = 'done' | 'error' | 'left';

/** The file's fate from the channel's answer (`undefined`: the engine failed, try again later). */
export function outcomeOf(reply: IngestReply | undefined): FileOutcome {
  if (!reply) return 'left';
  switch (reply.disposition.kind) {
    case 'accepted':
    case 'duplicate':
      return 'done';
    case 'rejected':
    case 'errored':
      return 'error';
    case 'unavailable':
      return 'left';
  }
}

/**
 * The messages of a batch file, or why the file cannot be taken (an unreadable message, one
 * without MSH-9 or MSH-10, a broken envelope, a wrong BTS-1 or FTS-1 count). The reason names
 * the line, never content.
 */
export function splitBatchFile(body: Buffer): { messages: Buffer[] } | { code: string; reason: string } {
  try {
    const messages = parseBatch(body).messages;
    for (const m of messages) {
      // The header every message needs to be taken (as the engine checks it): a file with a
      // message lacking one is refused whole, before any of its messages is handed over.
      const line = m.segments[0]?.line ?? 0;
      for (const [path, what] of [
        ['MSH-9', 'message type'],
        ['MSH-10', 'message control id'],
      ] as const) {
        if (m.get(path).trim() === '') {
          return {
            code: 'header.required',
            reason: `header.required at line ${line} (MSH): ${path} (${what}) is empty`,
          };
        }
      }
    }
    return { messages: messages.map((m) => m.toBuffer()) };
  } catch (err) {
    if (!(err instanceof Hl7ParseError)) throw err;
    return { code: err.code, reason: err.toString() };
  }
}

/** The result of handing one file's content to the channel. */
export interface IntakeResult {
  outcome: FileOutcome;
  /** Why the file goes to the error folder, when it is the file itself that is wrong. */
  reason?: string;
  /** Parse error code of a batch file that cannot be read. */
  code?: string;
  /** 1-based numbers of the messages the channel rejected (batch files). */
  rejected?: number[];
  messages?: number;
}

/** How far the channel got with a file: messages handled, and which of them it rejected (1-based). */
export interface IntakeProgress {
  done: number;
  rejected: number[];
}

/**
 * Hands a file's content to the channel: whole, or (with `batch`) message by message once the
 * whole file has been read and checked. `ingest` gets each message with the progress the file
 * will have once it is stored, and answers undefined when the engine failed: then the file is
 * left where it is. `resume` skips the messages an earlier run already handled; `passed` is
 * told of the progress past a message the channel did not store as accepted (a rejection, a
 * duplicate, a pipeline error), so that it can be recorded too.
 */
export async function intake(
  body: Buffer,
  options: { batch: boolean; contentType: PayloadType; resume?: IntakeProgress | undefined },
  ingest: (
    body: Buffer,
    contentType: PayloadType,
    progress: IntakeProgress,
  ) => Promise<IngestReply | undefined>,
  passed?: (progress: IntakeProgress) => Promise<void>,
): Promise<IntakeResult> {
  let messages: Buffer[] = [body];
  if (options.batch) {
    const split = splitBatchFile(body);
    if ('reason' in split) return { outcome: 'error', reason: split.reason, code: split.code };
    messages = split.messages;
  }
  const contentType = options.batch ? 'hl7v2' : options.contentType;
  const start = Math.min(options.resume?.done ?? 0, messages.length);
  const rejected = [...(options.resume?.rejected ?? [])];
  for (let index = start; index < messages.length; index++) {
    const reply = await ingest(messages[index] as Buffer, contentType, {
      done: index + 1,
      rejected: [...rejected],
    });
    const outcome = outcomeOf(reply);
    if (outcome === 'left') return { outcome: 'left' };
    if (outcome === 'error') rejected.push(index + 1);
    if (reply?.disposition.kind !== 'accepted') await passed?.({ done: index + 1, rejected: [...rejected] });
  }
  if (rejected.length === 0) return { outcome: 'done' };
  if (!options.batch) return { outcome: 'error' };
  return {
    outcome: 'error',
    reason: `the channel rejected message${rejected.length > 1 ? 's' : ''} ${rejected.join(', ')} of ${messages.length}`,
    rejected,
    messages: messages.length,
  };
}

/**
 * Logs why a file went to the error folder: a batch file that cannot be taken (its code), or
 * messages of it the channel rejected (their numbers). Never content.
 */
export function logIntake(
  logger: ConnectorLogger,
  source: 'file' | 'sftp',
  channelId: string,
  name: string,
  result: IntakeResult,
): void {
  if (result.code) {
    logger.warn(
      { channelId, file: name, code: result.code },
      `${source} source: the batch file cannot be read; moved to the error folder`,
    );
  } else if (result.rejected) {
    logger.warn(
      { channelId, file: name, messages: result.messages, rejected: result.rejected },
      `${source} source: messages of a batch file were rejected; moved to the error folder`,
    );
  }
}
