import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { BatchGatherer, batchOutputConfig } from './batch-gather';
import { errorCode } from './common';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
} from './connector';
import { filenameField, renderFilename } from './file-naming';

export const fileDestinationConfig = z.strictObject({
  directory: z.string().min(1).describe('Folder the files are written to (created when missing).'),
  filename: filenameField(),
  mode: z
    .string()
    .regex(/^0?[0-7]{3}$/, 'an octal permission such as 0640')
    .default('0640')
    .describe('Permissions of the files written (octal).'),
  batch: batchOutputConfig.optional(),
});
export type FileDestinationConfig = z.output<typeof fileDestinationConfig>;

/** A folder mode for files of `fileMode`: read and search for each class that may read (0640 → 0750). */
function folderModeFor(fileMode: number): number {
  let mode = 0o700;
  if (fileMode & 0o040) mode |= 0o050;
  if (fileMode & 0o004) mode |= 0o005;
  return mode;
}

/**
 * Writes each message to its own file, atomically: a temporary file in the target folder is
 * written, flushed to disk and renamed over the final name, so that a reader never sees a
 * partial file and a repeated delivery replaces the earlier copy.
 */
export class FileDestination implements Destination {
  private readonly directory: string;
  private readonly mode: number;
  /** Mode of the folders it creates: whoever may read the files may list them, nobody else. */
  private readonly folderMode: number;
  private readonly gatherer: BatchGatherer | undefined;

  constructor(
    private readonly config: FileDestinationConfig,
    private readonly context: DestinationContext,
  ) {
    this.directory = resolve(config.directory);
    this.mode = Number.parseInt(config.mode, 8);
    this.folderMode = folderModeFor(this.mode);
    if (config.batch)
      this.gatherer = new BatchGatherer(config.batch, (body, first) => this.writeFile(body, first));
  }

  /** The path a delivery is written to. */
  pathFor(request: DeliveryRequest, now = new Date()): string {
    const name = renderFilename(this.config.filename, request, now);
    const path = resolve(this.directory, name);
    if (path === this.directory || !path.startsWith(this.directory + sep)) {
      throw new Error('the file name leaves the directory');
    }
    return path;
  }

  send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    return this.gatherer ? this.gatherer.add(request) : this.writeFile(request.body, request);
  }

  /** Writes `body` atomically under the name the template gives for `request`. */
  private async writeFile(body: Buffer, request: DeliveryRequest): Promise<DeliveryOutcome> {
    let path: string;
    try {
      path = this.pathFor(request);
    } catch (err) {
      return { status: 'failed', code: 'INVALID_FILENAME', error: (err as Error).message };
    }
    const folder = dirname(path);
    const temp = join(folder, `.${randomBytes(8).toString('hex')}.sinew-tmp`);
    try {
      await mkdir(folder, { recursive: true, mode: this.folderMode });
      const handle = await open(temp, 'wx', this.mode);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
      await syncFolder(folder);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      const code = errorCode(err);
      return { status: 'retry', code, error: `cannot write ${relative(this.directory, path)} (${code})` };
    }
    return { status: 'sent', code: 'WRITTEN', response: Buffer.from(path, 'utf8') };
  }

  /** Writes the batch file gathered so far, if any. */
  async close(): Promise<void> {
    await this.gatherer?.flush();
  }

  describe(): string {
    return `file://${this.directory}/${this.config.filename}`;
  }
}

/** Makes a rename durable: flushes the folder's entry list (where the platform allows it). */
async function syncFolder(folder: string): Promise<void> {
  let handle;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch {
    // Some platforms and file systems cannot open or flush a folder; the rename stands.
  } finally {
    await handle?.close();
  }
}

export const fileDestination: DestinationDefinition<FileDestinationConfig> = {
  kind: 'destination',
  accepts: ['hl7v2', 'fhir', 'json', 'text', 'csv', 'xml'],
  type: 'file',
  description:
    'Writes each message to a file in a folder, named from a template. The write is atomic: a temporary ' +
    'file (`.<random>.sinew-tmp`) in the same folder is written, flushed to disk and renamed to the final ' +
    'name, so readers never see a partial file. A repeated delivery replaces the file it wrote before. ' +
    'Write errors (disk full, permissions, a missing mount) are retried. With `batch`, HL7 v2 messages are ' +
    'gathered into FHS/BHS … BTS/FTS batch files, written the same way.',
  guarantee:
    'At least once, idempotent: a message counts as delivered once its file is on disk; a repeat writes the ' +
    'same name again when the template uses only stable variables (not `${attempt}` or `${date}`).',
  configSchema: fileDestinationConfig,
  example: {
    directory: '/var/sinew/outbound/ehr',
    filename: '${date}/${message_id}.${ext}',
    mode: '0640',
  },
  create: (config, context) => new FileDestination(config, context),
};
