import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { EXTENSION_OF, errorCode } from './common';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
} from './connector';

/** Variables a file name template may use. */
export const FILENAME_VARIABLES = [
  'message_id',
  'delivery_id',
  'channel_id',
  'destination',
  'attempt',
  'date',
  'ext',
] as const;
type FilenameVariable = (typeof FILENAME_VARIABLES)[number];

const VARIABLE = /\$\{([^}]*)\}/g;

function checkTemplate(template: string, ctx: z.RefinementCtx): void {
  for (const match of template.matchAll(VARIABLE)) {
    const name = match[1] as string;
    if (!(FILENAME_VARIABLES as readonly string[]).includes(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown variable \${${name}}; use one of ${FILENAME_VARIABLES.map((v) => `\${${v}}`).join(', ')}`,
      });
    }
  }
  const segments = template.split('/');
  if (template.startsWith('/') || segments.some((s) => s === '..' || s === '.' || s === '')) {
    ctx.addIssue({
      code: 'custom',
      message: 'the file name must stay inside the directory: no leading /, no empty, . or .. parts',
    });
  }
}

export const fileDestinationConfig = z.strictObject({
  directory: z.string().min(1).describe('Folder the files are written to (created when missing).'),
  filename: z
    .string()
    .min(1)
    .default('${message_id}.${ext}')
    .superRefine(checkTemplate)
    .describe(
      'File name template. Variables: `${message_id}`, `${delivery_id}`, `${channel_id}`, `${destination}`, ' +
        '`${attempt}`, `${date}` (YYYYMMDD, UTC), `${ext}` (hl7, json or txt from the payload). May contain `/` ' +
        'for sub-folders (`${date}/${message_id}.${ext}`). A file of the same name is replaced.',
    ),
  mode: z
    .string()
    .regex(/^0?[0-7]{3}$/, 'an octal permission such as 0640')
    .default('0640')
    .describe('Permissions of the files written (octal).'),
});
export type FileDestinationConfig = z.output<typeof fileDestinationConfig>;

/** Characters a variable's value may bring into a file name; others become `_`. */
function safe(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9._-]/g, '_');
  return /^\.+$/.test(cleaned) ? cleaned.replace(/\./g, '_') : cleaned;
}

function yyyymmdd(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

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

  constructor(
    private readonly config: FileDestinationConfig,
    private readonly context: DestinationContext,
  ) {
    this.directory = resolve(config.directory);
    this.mode = Number.parseInt(config.mode, 8);
    this.folderMode = folderModeFor(this.mode);
  }

  /** The path a delivery is written to. */
  pathFor(request: DeliveryRequest, now = new Date()): string {
    const values: Record<FilenameVariable, string> = {
      message_id: request.messageId,
      delivery_id: request.deliveryId,
      channel_id: request.channelId,
      destination: request.destination,
      attempt: String(request.attempt),
      date: yyyymmdd(now),
      ext: EXTENSION_OF[request.contentType],
    };
    const name = this.config.filename.replace(VARIABLE, (_m, v: string) =>
      safe(values[v as FilenameVariable] ?? ''),
    );
    const path = resolve(this.directory, name);
    if (path === this.directory || !path.startsWith(this.directory + sep)) {
      throw new Error('the file name leaves the directory');
    }
    return path;
  }

  async send(request: DeliveryRequest): Promise<DeliveryOutcome> {
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
        await handle.writeFile(request.body);
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

  async close(): Promise<void> {}

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
    'Write errors (disk full, permissions, a missing mount) are retried.',
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
