import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type SftpClient from 'ssh2-sftp-client';
import { z } from 'zod';
import { BatchGatherer, batchOutputConfig } from './batch-gather';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
} from './connector';
import { filenameField, renderFilename } from './file-naming';
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

export const sftpDestinationConfig = z
  .strictObject({
    ...sftpConnectionFields(),
    directory: z
      .string()
      .min(1)
      .describe('Remote folder the files are written to (absolute, or relative to the login folder).'),
    filename: filenameField(),
    create_directories: z
      .boolean()
      .default(true)
      .describe('Create the remote folder (and the sub-folders a template names) when missing.'),
    batch: batchOutputConfig.optional(),
  })
  .superRefine(checkCredentials);
export type SftpDestinationConfig = z.output<typeof sftpDestinationConfig>;

/**
 * Uploads each message (or each batch file) to an SFTP server atomically: the bytes go to a
 * hidden temporary name in the target folder (`.<random>.sinew-tmp`), which is then renamed
 * over the final name, so the server's readers never see a partial file. One connection is
 * kept open and opened again after a failure.
 */
export class SftpDestination implements Destination {
  private client: Promise<SftpClient> | undefined;
  private privateKey: Promise<string | Buffer | undefined> | undefined;
  /** Folders made (or being made) on this connection: concurrent deliveries make each once. */
  private readonly folders = new Map<string, Promise<unknown>>();
  private readonly gatherer: BatchGatherer | undefined;
  private readonly directory: string;

  constructor(
    private readonly config: SftpDestinationConfig,
    private readonly context: DestinationContext,
  ) {
    this.directory = config.directory.replace(/\/+$/, '') || '/';
    if (config.batch)
      this.gatherer = new BatchGatherer(config.batch, (body, first) => this.upload(body, first));
  }

  send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    return this.gatherer ? this.gatherer.add(request) : this.upload(request.body, request);
  }

  private session(): Promise<SftpClient> {
    if (!this.client) {
      this.privateKey ??= loadPrivateKey(this.config);
      const opening = this.privateKey.then((key) => connectSftp(this.config, key));
      this.client = opening;
      opening.then(
        (client) => {
          // A dropped connection is opened again on the next delivery.
          client.on('close', () => {
            if (this.client === opening) this.client = undefined;
          });
        },
        () => {
          if (this.client === opening) this.client = undefined;
        },
      );
    }
    return this.client;
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.folders.clear();
    await client?.then((c) => c.end()).catch(() => undefined);
  }

  private async upload(body: Buffer, request: DeliveryRequest): Promise<DeliveryOutcome> {
    let name: string;
    try {
      name = renderFilename(this.config.filename, request);
    } catch (err) {
      return { status: 'failed', code: 'INVALID_FILENAME', error: (err as Error).message };
    }
    const path = posix.join(this.directory, name);
    const folder = posix.dirname(path);
    const temp = posix.join(folder, `.${randomBytes(8).toString('hex')}.sinew-tmp`);
    let client: SftpClient | undefined;
    try {
      client = await this.session();
      if (this.config.create_directories) await this.ensureFolder(client, folder);
      await client.put(body, temp);
      await this.replace(client, temp, path);
    } catch (err) {
      if (client) await client.delete(temp, true).catch(() => undefined);
      return this.failure(err, name);
    }
    return { status: 'sent', code: 'UPLOADED', response: Buffer.from(path, 'utf8') };
  }

  private async ensureFolder(client: SftpClient, folder: string): Promise<void> {
    let making = this.folders.get(folder);
    if (!making) {
      making = client.mkdir(folder, true);
      this.folders.set(folder, making);
      making.catch(() => this.folders.delete(folder));
    }
    await making;
  }

  /** Renames over an existing file: OpenSSH's posix-rename, else delete then rename. */
  private async replace(client: SftpClient, from: string, to: string): Promise<void> {
    try {
      await client.posixRename(from, to);
    } catch (err) {
      if (isNoSuchFile(err)) throw err;
      await client.delete(to, true);
      await client.rename(from, to);
    }
  }

  private async failure(err: unknown, name: string): Promise<DeliveryOutcome> {
    if (err instanceof SftpConnectError && err.failure !== 'network') {
      return { status: 'failed', code: err.code, error: err.message };
    }
    const code = sftpErrorCode(err);
    // The connection may be what failed: the next attempt opens a new one.
    await this.drop();
    const detail = err instanceof Error ? `: ${err.message}` : '';
    const reason = err instanceof SftpConnectError ? err.message : `cannot upload ${name} (${code})${detail}`;
    return { status: 'retry', code, error: reason };
  }

  /** Writes the batch file gathered so far, if any, then closes the connection. */
  async close(): Promise<void> {
    await this.gatherer?.flush();
    await this.drop();
  }

  describe(): string {
    return `${sftpAddress(this.config)}${posix.resolve('/', this.directory)}/${this.config.filename}`;
  }
}

export const sftpDestination: DestinationDefinition<SftpDestinationConfig> = {
  kind: 'destination',
  accepts: ['hl7v2', 'fhir', 'json', 'text'],
  type: 'sftp',
  description:
    'Uploads each message to a file on an SFTP server, named from a template (as the `file` destination). ' +
    'The upload is atomic: the bytes go to a hidden temporary name (`.<random>.sinew-tmp`) in the target ' +
    'folder, renamed to the final name once complete, so the server’s readers never see a partial file; a ' +
    'repeated delivery replaces the file it wrote before. The server must present the pinned host key ' +
    '(`host_key_sha256`). A server that is down or drops the connection is retried; a host key mismatch or ' +
    'a refused login fails the delivery at once (dead letter), with the reason. With `batch`, HL7 v2 messages ' +
    'are gathered into FHS/BHS … BTS/FTS batch files, uploaded the same way.',
  guarantee:
    'At least once, idempotent: a message counts as delivered once its file has its final name on the server; ' +
    'a repeat writes the same name again when the template uses only stable variables.',
  configSchema: sftpDestinationConfig,
  example: {
    host: 'sftp.ehr.example.org',
    username: 'sinew',
    password: '${EHR_SFTP_PASSWORD}',
    host_key_sha256: 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
    directory: '/inbound',
    filename: '${date}/${message_id}.${ext}',
  },
  create: (config, context) => new SftpDestination(config, context),
};
