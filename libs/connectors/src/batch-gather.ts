/**
 * Gathering HL7 v2 messages into batch files, for the `file` and `sftp` destinations.
 *
 * Invariant: a delivery is answered `sent` only once the batch file holding it is written
 * (and, for a local folder, flushed to disk). Until then its `send()` is still waiting, so the
 * ledger keeps the delivery pending: a crash loses no gathered message, the engine's recovery
 * sends it again (into a later batch file).
 */
import { buildBatch, Hl7Message, Hl7ParseError } from '@sinew/hl7v2';
import { z } from 'zod';
import { millis } from './common';
import type { DeliveryOutcome, DeliveryRequest } from './connector';

export const batchOutputConfig = z
  .strictObject({
    max_messages: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(100)
      .describe('A batch file is written as soon as it holds this many messages.'),
    max_wait_ms: millis(
      60_000,
      'A batch file is written at the latest this long after its first message arrived, however many it holds.',
    ),
  })
  .describe(
    'HL7 v2 only: gather messages into batch files (FHS, BHS, the messages, BTS with the message count, FTS ' +
      'with 1) instead of one file per message. Each message counts as delivered only once the batch file ' +
      'holding it is written; a crash before that loses nothing (the messages are sent again, into a later ' +
      "file). A file gathers at most the destination's `concurrency` messages at once (deliveries waiting " +
      'for their file hold their slot), so set `concurrency` to at least `max_messages` for full files; ' +
      'with ordering, each file holds one message.',
  );
export type BatchOutputConfig = z.output<typeof batchOutputConfig>;

interface Waiting {
  request: DeliveryRequest;
  message: Hl7Message;
  resolve: (outcome: DeliveryOutcome) => void;
}

/**
 * Gathers deliveries and writes them as one batch file when `max_messages` are there or
 * `max_wait_ms` passed since the first. `write` gets the file's bytes and the first delivery
 * (whose variables name the file) and answers for all of them.
 */
export class BatchGatherer {
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly config: BatchOutputConfig,
    private readonly write: (body: Buffer, first: DeliveryRequest) => Promise<DeliveryOutcome>,
  ) {}

  /** Resolves once the batch file holding this delivery is written (or failed). */
  add(request: DeliveryRequest): Promise<DeliveryOutcome> {
    if (request.contentType !== 'hl7v2') {
      return Promise.resolve({
        status: 'failed',
        code: 'NOT_HL7V2',
        error: `batch files hold HL7 v2 messages; this payload is ${request.contentType}`,
      });
    }
    let message: Hl7Message;
    try {
      message = Hl7Message.parse(request.body);
    } catch (err) {
      if (!(err instanceof Hl7ParseError)) throw err;
      return Promise.resolve({
        status: 'failed',
        code: 'INVALID_HL7',
        error: `the message cannot go into a batch file: ${err.toString()}`,
      });
    }
    return new Promise((resolve) => {
      this.waiting.push({ request, message, resolve });
      if (this.waiting.length >= this.config.max_messages) void this.flush();
      else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.config.max_wait_ms);
    });
  }

  /** Writes what is gathered now (one file after another, never two at once). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return this.writing;
    this.writing = this.writing.then(() => this.writeBatch(batch));
    return this.writing;
  }

  private async writeBatch(batch: Waiting[]): Promise<void> {
    const first = batch[0] as Waiting;
    let outcome: DeliveryOutcome;
    try {
      const body = buildBatch(batch.map((w) => w.message)).toBuffer();
      outcome = await this.write(body, first.request);
    } catch (err) {
      outcome = { status: 'retry', code: 'BATCH_WRITE', error: (err as Error).message };
    }
    for (const w of batch) w.resolve(outcome);
  }
}
