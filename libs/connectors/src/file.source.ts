import { copyFile, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { z } from 'zod';
import { errorCode, millis } from './common';
import { csvOptions, CsvReadError, splitCsv } from './csv';
import { batchNeedsHl7, intake, intakeFields, logIntake, outcomeOf, type FileOutcome } from './file-intake';
import { globToRegExp } from './file-naming';
import type { IngestReply, PayloadType, Source, SourceContext, SourceDefinition } from './connector';

export const fileSourceConfig = z
  .strictObject({
    directory: z.string().min(1).describe('Folder to poll. It must exist when the channel starts.'),
    poll_interval_ms: millis(1_000, 'Pause between two scans of the folder.'),
    ...intakeFields({ minAgeMs: 500 }),
    content_type: z
      .enum(['hl7v2', 'fhir', 'json', 'text', 'csv', 'xml'])
      .default('hl7v2')
      .describe(
        'What the files hold. `csv`: delimited text, one message per row (see `csv`); `xml`: one XML document per file.',
      ),
    csv: csvOptions.optional(),
    done_directory: z
      .string()
      .min(1)
      .optional()
      .describe('Where a file goes once the channel accepted it (default `<directory>/done`).'),
    error_directory: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Where a file goes when the channel rejected it, or it cannot be read (default `<directory>/error`).',
      ),
  })
  .refine(...batchNeedsHl7)
  .refine((c) => c.csv === undefined || c.content_type === 'csv', {
    message: 'csv applies to delimited text files only (content_type: csv)',
    path: ['csv'],
  });
export type FileSourceConfig = z.output<typeof fileSourceConfig>;

/**
 * Polls a folder: each file (oldest name first) is read, handed to the engine, then moved to
 * the done folder (accepted, duplicate) or the error folder (rejected); a file the engine could
 * not store is left in place and tried again on the next scan.
 */
export class FileSource implements Source {
  private readonly directory: string;
  private readonly doneDirectory: string;
  private readonly errorDirectory: string;
  private readonly matcher: RegExp;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly config: FileSourceConfig,
    private readonly context: SourceContext,
  ) {
    this.directory = resolve(config.directory);
    this.doneDirectory = resolve(this.directory, config.done_directory ?? 'done');
    this.errorDirectory = resolve(this.directory, config.error_directory ?? 'error');
    this.matcher = globToRegExp(config.pattern);
  }

  async start(): Promise<void> {
    let isDirectory = false;
    try {
      isDirectory = (await stat(this.directory)).isDirectory();
    } catch (err) {
      throw new Error(`file source: cannot read the folder ${this.directory} (${errorCode(err)})`);
    }
    if (!isDirectory) throw new Error(`file source: ${this.directory} is not a folder`);
    // Processed files hold messages: the folders made for them are not open to other users.
    await mkdir(this.doneDirectory, { recursive: true, mode: 0o750 });
    await mkdir(this.errorDirectory, { recursive: true, mode: 0o750 });
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling; waits (up to `timeoutMs`) for the file being handled to be finished. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const scanning = this.scanning;
    if (!scanning) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([scanning, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  describe(): string {
    return `file://${this.directory}/${this.config.pattern}`;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.scanning = this.scan()
        .catch((err: unknown) =>
          this.context.logger.warn(
            { channelId: this.context.channelId, error: errorCode(err) },
            'file source: scanning the folder failed',
          ),
        )
        .finally(() => {
          this.scanning = undefined;
          this.schedule(this.config.poll_interval_ms);
        });
    }, delayMs);
  }

  /** One scan: every eligible file in name order, one at a time. */
  private async scan(): Promise<void> {
    const entries = await readdir(this.directory, { withFileTypes: true });
    const names = entries
      .filter((e) => e.isFile() && !e.name.startsWith('.') && this.matcher.test(e.name))
      .map((e) => e.name)
      .sort();
    for (const name of names) {
      if (this.stopped) return;
      const outcome = await this.handleFile(name);
      // The engine could not store this file: the next ones would fare no better now.
      if (outcome === 'left') return;
    }
  }

  /** Handles one file; `undefined` when it is not ready (still being written, or gone). */
  private async handleFile(name: string): Promise<FileOutcome | undefined> {
    const path = join(this.directory, name);
    const before = await statIfPresent(path);
    if (!before?.isFile()) return undefined;
    if (Date.now() - before.mtimeMs < this.config.min_age_ms) return undefined;
    if (before.size > this.config.max_file_bytes) {
      this.context.logger.warn(
        { channelId: this.context.channelId, file: name, bytes: before.size },
        `file source: file larger than ${this.config.max_file_bytes} bytes; moved to the error folder`,
      );
      return this.move(path, name, 'error');
    }
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const after = await statIfPresent(path);
    if (
      !after ||
      after.size !== before.size ||
      after.mtimeMs !== before.mtimeMs ||
      body.length !== before.size
    ) {
      return undefined;
    }
    if (this.config.content_type === 'csv' || this.config.content_type === 'xml') {
      const outcome =
        this.config.content_type === 'csv'
          ? await this.ingestRows(path, name, body)
          : await this.ingestOne(path, body);
      if (outcome === 'left') return outcome;
      return this.move(path, name, outcome);
    }
    const result = await intake(
      body,
      { batch: this.config.batch, contentType: this.config.content_type },
      (content, contentType) => this.ingest(path, content, contentType),
    );
    if (result.outcome === 'left') return 'left';
    logIntake(this.context.logger, 'file', this.context.channelId, name, result);
    return this.move(path, name, result.outcome, result.reason);
  }

  private async ingestOne(path: string, body: Buffer): Promise<FileOutcome> {
    const reply = await this.ingest(path, body, this.config.content_type);
    const d = reply?.disposition;
    // An XML document's fault is logged with its place: the reader's messages never quote the data.
    if (this.config.content_type === 'xml' && d?.kind === 'rejected')
      this.context.logger.warn(
        { channelId: this.context.channelId, code: d.issue.code },
        `file source: the XML document was refused (${d.issue.message}); moved to the error folder`,
      );
    return outcomeOf(reply);
  }

  /**
   * A delimited text file: one message per row, in order. A file that cannot be read is not
   * handed on at all (it goes to the error folder, the log names the line and field); when a
   * row is refused, the file goes to the error folder once every row was handed over.
   */
  private async ingestRows(path: string, name: string, body: Buffer): Promise<FileOutcome> {
    let rows: string[];
    try {
      rows = splitCsv(body, this.config.csv ?? csvOptions.parse({}));
    } catch (err) {
      if (!(err instanceof CsvReadError)) throw err;
      this.context.logger.warn(
        { channelId: this.context.channelId, file: name, code: err.code, line: err.line, field: err.field },
        `file source: the delimited text cannot be read (${err.message}); moved to the error folder`,
      );
      return 'error';
    }
    const rejected: number[] = [];
    for (const [index, row] of rows.entries()) {
      const outcome = outcomeOf(await this.ingest(path, Buffer.from(row, 'utf8'), 'csv'));
      if (outcome === 'left') return 'left';
      if (outcome === 'error') rejected.push(index + 1);
    }
    if (rejected.length === 0) return 'done';
    this.context.logger.warn(
      { channelId: this.context.channelId, file: name, rows: rows.length, rejected },
      'file source: rows of a delimited text file were rejected; moved to the error folder',
    );
    return 'error';
  }

  /** The engine's reply, or undefined when the engine failed (the file stays for the next scan). */
  private async ingest(
    path: string,
    body: Buffer,
    contentType: PayloadType,
  ): Promise<IngestReply | undefined> {
    try {
      return await this.context.ingest({ body, contentType, source: 'file', remoteAddress: path });
    } catch (err) {
      this.context.logger.error(
        { channelId: this.context.channelId, error: errorCode(err) },
        'file source: ingest failed; the file is left for the next scan',
      );
      return undefined;
    }
  }

  /** Moves the file; one sent to the error folder for a reason of its own gets a `.error.txt` note. */
  private async move(
    path: string,
    name: string,
    to: 'done' | 'error',
    reason?: string,
  ): Promise<FileOutcome> {
    const folder = to === 'done' ? this.doneDirectory : this.errorDirectory;
    try {
      const target = await freeName(folder, name);
      await moveFile(path, target);
      if (reason) await writeFile(`${target}.error.txt`, `${reason}\n`, { mode: 0o640 });
    } catch (err) {
      this.context.logger.warn(
        { channelId: this.context.channelId, file: name, error: errorCode(err) },
        `file source: cannot move the file to the ${to} folder`,
      );
    }
    return to;
  }
}

async function statIfPresent(path: string) {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** `folder/name`, or `folder/stem-2.ext`, `-3`… when that name is taken. */
async function freeName(folder: string, name: string): Promise<string> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 1; ; n++) {
    const candidate = join(folder, n === 1 ? name : `${stem}-${n}${ext}`);
    if (!(await statIfPresent(candidate))) return candidate;
  }
}

/** Renames, or copies then deletes when the folders are on different file systems. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(from, to);
    await unlink(from);
  }
}

export const fileSource: SourceDefinition<FileSourceConfig> = {
  kind: 'source',
  produces: (config) => [config.content_type],
  type: 'file',
  description:
    'Polls a folder for files. Each file whose name matches `pattern` and that has not changed for `min_age_ms` ' +
    'is read and handed to the channel, one at a time in name order; then it is moved to `done_directory` ' +
    '(accepted, or a duplicate) or `error_directory` (rejected). When the channel cannot store it, the file ' +
    'stays where it is and is tried again on the next scan.',
  guarantee:
    'At least once: a file leaves the folder only after the channel committed its content; a crash between ' +
    'the commit and the move hands it over again, and the channel recognises the duplicate.',
  configSchema: fileSourceConfig,
  example: {
    directory: '/var/sinew/inbound/lab',
    pattern: '*.hl7',
    poll_interval_ms: 2000,
    batch: true,
  },
  create: (config, context) => new FileSource(config, context),
};
