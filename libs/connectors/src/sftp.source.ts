import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type SftpClient from 'ssh2-sftp-client';
import { z } from 'zod';
import { millis } from './common';
import type { IngestReply, PayloadType, Source, SourceContext, SourceDefinition } from './connector';
import {
  batchNeedsHl7,
  intake,
  intakeFields,
  logIntake,
  type IntakeProgress,
  type IntakeResult,
} from './file-intake';
import { globToRegExp } from './file-naming';
import {
  checkCredentials,
  connectSftp,
  isNoSuchFile,
  loadPrivateKey,
  sftpAddress,
  sftpConnectionFields,
  sftpErrorCode,
  SftpConnectError,
} from './sftp-connection';

export const sftpSourceConfig = z
  .strictObject({
    ...sftpConnectionFields(),
    directory: z
      .string()
      .min(1)
      .describe('Remote folder to poll (absolute, or relative to the login folder).'),
    poll_interval_ms: millis(5_000, 'Pause between two scans of the remote folder.'),
    ...intakeFields({ minAgeMs: 1_000 }),
    after: z
      .enum(['move', 'delete'])
      .default('move')
      .describe(
        'What becomes of a file the channel accepted: `move` it to `done_directory`, or `delete` it. A ' +
          'rejected file always goes to `error_directory`.',
      ),
    done_directory: z
      .string()
      .min(1)
      .optional()
      .describe('Remote folder for accepted files (default `<directory>/done`; created when missing).'),
    error_directory: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Remote folder for rejected or unreadable files (default `<directory>/error`; created when missing).',
      ),
  })
  .superRefine(checkCredentials)
  .refine(...batchNeedsHl7);
export type SftpSourceConfig = z.output<typeof sftpSourceConfig>;

/** Size and modification time of a remote file, and since when (local clock) they have not changed. */
interface Sighting {
  size: number;
  mtime: number;
  since: number;
}

/**
 * The marker of a file whose content the channel has committed: kept next to the file
 * (`.<name>.sinew-ingested`) until the file is moved, so that a restart between the commit
 * and the move finishes the move without handing the file over again.
 */
interface Marker {
  size: number;
  mtime: number;
  sha256: string;
  outcome: 'done' | 'error';
  reason?: string;
}

const MARKER = /^\.(.+)\.sinew-ingested$/;
const markerName = (name: string) => `.${name}.sinew-ingested`;

/**
 * Polls a remote folder over SFTP. A file is taken once its size and modification time have
 * stayed the same for `min_age_ms` (on two scans at least); it is downloaded, handed to the
 * channel like a local file, marked, then moved (or deleted); the marker goes last.
 */
export class SftpSource implements Source {
  private readonly doneDirectory: string;
  private readonly errorDirectory: string;
  private readonly matcher: RegExp;
  private readonly sightings = new Map<string, Sighting>();
  private privateKey: string | Buffer | undefined;
  private foldersReady = false;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly config: SftpSourceConfig,
    private readonly context: SourceContext,
  ) {
    this.doneDirectory = posix.resolve(config.directory, config.done_directory ?? 'done');
    this.errorDirectory = posix.resolve(config.directory, config.error_directory ?? 'error');
    this.matcher = globToRegExp(config.pattern);
  }

  /** Reads the key file and starts polling; an unreachable server is reported and tried again. */
  async start(): Promise<void> {
    this.privateKey = await loadPrivateKey(this.config);
    this.stopped = false;
    this.schedule(0);
  }

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
    return `${sftpAddress(this.config)}${posix.resolve('/', this.config.directory)}/${this.config.pattern}`;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.scanning = this.scan()
        .catch((err: unknown) => this.reportScanFailure(err))
        .finally(() => {
          this.scanning = undefined;
          this.schedule(this.config.poll_interval_ms);
        });
    }, delayMs);
  }

  private reportScanFailure(err: unknown): void {
    // A folder may have gone with the failure: make sure of them again on the next scan.
    this.foldersReady = false;
    const refused = err instanceof SftpConnectError && err.failure !== 'network';
    const fields = {
      channelId: this.context.channelId,
      server: sftpAddress(this.config),
      error: sftpErrorCode(err),
      ...(err instanceof SftpConnectError ? { reason: err.message } : {}),
    };
    if (refused) this.context.logger.error(fields, 'sftp source: the server was refused; polling goes on');
    else this.context.logger.warn(fields, 'sftp source: scanning the remote folder failed; polling goes on');
  }

  /** One scan: connect, take every ready file in name order, disconnect. */
  private async scan(): Promise<void> {
    const client = await connectSftp(this.config, this.privateKey);
    try {
      if (!this.foldersReady) {
        if (this.config.after === 'move') await client.mkdir(this.doneDirectory, true);
        await client.mkdir(this.errorDirectory, true);
        this.foldersReady = true;
      }
      const entries = await client.list(this.config.directory);
      const present = new Set(entries.map((e) => e.name));
      await this.dropOrphanMarkers(
        client,
        entries.map((e) => e.name).filter((n) => MARKER.test(n)),
        present,
      );
      const now = Date.now();
      const ready: string[] = [];
      for (const e of entries) {
        if (e.type !== '-' || e.name.startsWith('.') || !this.matcher.test(e.name)) continue;
        const seen = this.sightings.get(e.name);
        if (!seen || seen.size !== e.size || seen.mtime !== e.modifyTime) {
          this.sightings.set(e.name, { size: e.size, mtime: e.modifyTime, since: now });
        } else if (now - seen.since >= this.config.min_age_ms) {
          ready.push(e.name);
        }
      }
      for (const name of this.sightings.keys()) if (!present.has(name)) this.sightings.delete(name);
      for (const name of ready.sort()) {
        if (this.stopped) return;
        const outcome = await this.handleFile(client, name);
        // The engine could not store this file: the next ones would fare no better now.
        if (outcome === 'left') return;
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Markers left by a run that moved its file but stopped before removing the marker. */
  private async dropOrphanMarkers(
    client: SftpClient,
    markers: string[],
    present: Set<string>,
  ): Promise<void> {
    for (const marker of markers) {
      const file = (MARKER.exec(marker) as RegExpExecArray)[1] as string;
      if (!present.has(file)) await client.delete(this.remote(marker), true);
    }
  }

  private remote(name: string): string {
    return posix.join(this.config.directory, name);
  }

  private async handleFile(client: SftpClient, name: string): Promise<'done' | 'error' | 'left' | undefined> {
    const path = this.remote(name);
    const seen = this.sightings.get(name) as Sighting;
    if (seen.size > this.config.max_file_bytes) {
      this.context.logger.warn(
        { channelId: this.context.channelId, file: name, bytes: seen.size },
        `sftp source: file larger than ${this.config.max_file_bytes} bytes; moved to the error folder`,
      );
      await this.finish(client, name, {
        outcome: 'error',
        reason: `larger than ${this.config.max_file_bytes} bytes`,
      });
      return 'error';
    }
    let body: Buffer;
    try {
      body = (await client.get(path)) as Buffer;
    } catch (err) {
      if (isNoSuchFile(err)) return undefined;
      throw err;
    }
    const after = await client.stat(path).catch((err: unknown) => {
      if (isNoSuchFile(err)) return undefined;
      throw err;
    });
    if (!after || after.size !== seen.size || after.modifyTime !== seen.mtime || body.length !== seen.size) {
      // Changed while it was read: it is not finished yet.
      this.sightings.delete(name);
      return undefined;
    }
    const identity = {
      size: seen.size,
      mtime: seen.mtime,
      sha256: createHash('sha256').update(body).digest('hex'),
    };
    const marker = await this.readMarker(client, name);
    let result: IntakeResult;
    if (
      marker &&
      marker.size === identity.size &&
      marker.mtime === identity.mtime &&
      marker.sha256 === identity.sha256
    ) {
      // Committed by an earlier run that stopped before moving it: finish the move only.
      result = { outcome: marker.outcome, ...(marker.reason ? { reason: marker.reason } : {}) };
    } else {
      // The ledger's cursor for this source names the file being handed over and how far it
      // got, committed with each message: a run stopped part-way resumes after the last one.
      const cursor = this.context.cursor;
      const position = (progress: IntakeProgress) => JSON.stringify({ file: name, ...identity, ...progress });
      const resume = cursor ? resumeFrom(await cursor.get(), name, identity) : undefined;
      result = await intake(
        body,
        { batch: this.config.batch, contentType: this.config.content_type, resume },
        (content, contentType, progress) =>
          this.ingest(path, content, contentType, cursor ? position(progress) : undefined),
        cursor ? (progress) => cursor.set(position(progress)) : undefined,
      );
      if (result.outcome === 'left') return 'left';
      logIntake(this.context.logger, 'sftp', this.context.channelId, name, result);
      const written: Marker = {
        ...identity,
        outcome: result.outcome,
        ...(result.reason ? { reason: result.reason } : {}),
      };
      await client.put(Buffer.from(JSON.stringify(written)), this.remote(markerName(name)));
    }
    await this.finish(client, name, result);
    return result.outcome;
  }

  private async readMarker(client: SftpClient, name: string): Promise<Marker | undefined> {
    let text: string;
    try {
      text = ((await client.get(this.remote(markerName(name)))) as Buffer).toString('utf8');
    } catch (err) {
      if (isNoSuchFile(err)) return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as Marker;
    } catch {
      // A marker cut short by a crash: the file is handed over again (a duplicate for the channel).
      return undefined;
    }
  }

  /** Moves (or deletes) the file, writes the reason note, then removes the marker. */
  private async finish(client: SftpClient, name: string, result: IntakeResult): Promise<void> {
    const path = this.remote(name);
    if (result.outcome === 'done' && this.config.after === 'delete') {
      await client.delete(path, true);
    } else {
      const folder = result.outcome === 'done' ? this.doneDirectory : this.errorDirectory;
      const target = await this.freeName(client, folder, name);
      await client.rename(path, target);
      if (result.outcome === 'error' && result.reason) {
        // Written aside and renamed, so that whoever looks at the error folder never sees it half-written.
        const note = `${target}.error.txt`;
        const temp = posix.join(posix.dirname(target), `.${posix.basename(note)}.sinew-tmp`);
        await client.put(Buffer.from(`${result.reason}\n`), temp);
        await client.rename(temp, note);
      }
    }
    await client.delete(this.remote(markerName(name)), true);
    this.sightings.delete(name);
  }

  /** `folder/name`, or `folder/stem-2.ext`, `-3`… when that name is taken. */
  private async freeName(client: SftpClient, folder: string, name: string): Promise<string> {
    const ext = posix.extname(name);
    const stem = name.slice(0, name.length - ext.length);
    for (let n = 1; ; n++) {
      const candidate = posix.join(folder, n === 1 ? name : `${stem}-${n}${ext}`);
      if (!(await client.exists(candidate))) return candidate;
    }
  }

  private async ingest(
    path: string,
    body: Buffer,
    contentType: PayloadType,
    cursor: string | undefined,
  ): Promise<IngestReply | undefined> {
    try {
      return await this.context.ingest({
        body,
        contentType,
        ...(cursor !== undefined ? { cursor } : {}),
        source: 'sftp',
        remoteAddress: `${sftpAddress(this.config)}${posix.resolve('/', path)}`,
      });
    } catch (err) {
      this.context.logger.error(
        { channelId: this.context.channelId, error: sftpErrorCode(err) },
        'sftp source: ingest failed; the file is left for the next scan',
      );
      return undefined;
    }
  }
}

/** Where to resume a file from the ledger's cursor: only when it names this very file. */
function resumeFrom(
  value: string | undefined,
  name: string,
  identity: { size: number; mtime: number; sha256: string },
): IntakeProgress | undefined {
  if (value === undefined) return undefined;
  let c: Partial<Record<'file' | 'size' | 'mtime' | 'sha256' | 'done' | 'rejected', unknown>>;
  try {
    c = JSON.parse(value) as typeof c;
  } catch {
    return undefined;
  }
  if (
    c.file !== name ||
    c.size !== identity.size ||
    c.mtime !== identity.mtime ||
    c.sha256 !== identity.sha256
  ) {
    return undefined;
  }
  if (typeof c.done !== 'number' || !Array.isArray(c.rejected)) return undefined;
  return { done: c.done, rejected: c.rejected.filter((n): n is number => typeof n === 'number') };
}

export const sftpSource: SourceDefinition<SftpSourceConfig> = {
  kind: 'source',
  produces: (config) => [config.content_type],
  type: 'sftp',
  description:
    'Polls a folder on an SFTP server. Each file whose name matches `pattern` and whose size and modification ' +
    'time have not changed for `min_age_ms` (seen on two scans at least) is downloaded and handed to the channel, ' +
    'one at a time in name order, as the `file` source does (with `batch`, HL7 batch files are split and ' +
    'their counts checked); then it is moved to `done_directory` (or deleted, `after: delete`), or to ' +
    '`error_directory` when rejected. The server must present the pinned host key (`host_key_sha256`); a ' +
    'server that is down, or refuses the login, is reported in the log and polled again.',
  guarantee:
    "At least once, without repeats on restart: each message is committed together with the source's cursor " +
    "in the ledger (the file's name, size, modification time and SHA-256, and how many of its messages are " +
    'handled), so a restart after a crash, even in the middle of a batch file or between the commit and the ' +
    'move, goes on after the last committed message and hands nothing over twice. Once a file is handed ' +
    'over, a marker (`.<name>.sinew-ingested`) beside it keeps that knowledge until the move is done. The ' +
    'same messages in another file are answered as duplicates (HL7 v2: same sender and MSH-10).',
  configSchema: sftpSourceConfig,
  example: {
    host: 'sftp.pms.example.org',
    username: 'clinic',
    private_key_file: '/etc/sinew/keys/pms_ed25519',
    host_key_sha256: 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
    directory: '/outbound/adt',
    pattern: '*.hl7',
    batch: true,
  },
  create: (config, context) => new SftpSource(config, context),
};
