import { isIPv6 } from 'node:net';
import { Hl7Message } from '@sinew/hl7v2';
import {
  MllpErrorCode,
  MllpServer,
  ackingHandler,
  readTlsFiles,
  replyBytes,
  type MllpConnectionContext,
  type MllpError,
  type MllpReply,
  type MllpServerTlsOptions,
} from '@sinew/mllp';
import { MessageDirectory } from './message-dir';

export interface ListenOptions {
  host: string;
  port: number;
  /** Serve TLS with `cert` and `key`; with `ca`, clients must present a certificate it signed. */
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  /** Folder each accepted message is written to. */
  out?: string;
  maxMessageBytes?: number;
}

export interface ListenIo {
  stdout(text: string): void;
  stderr(text: string): void;
  now?(): Date;
}

/** Counts since start, for the summary printed on stop. */
export interface ListenCounts {
  messages: number;
  accepted: number;
  notAccepted: number;
}

/** Why the listener could not start: a bad argument (exit 2) or the system refused (exit 1). */
export class ListenStartError extends Error {
  constructor(
    message: string,
    readonly usage: boolean,
  ) {
    super(message);
  }
}

/** Longest value printed in a column; a sender controls these bytes. */
const MAX_COLUMN = 64;

/** A header value as one printable column: no tabs, line breaks or control characters. */
export function column(value: string | undefined): string {
  if (!value) return '-';
  const clean = value.replace(/[^\x21-\x7e]/g, '?');
  return clean.length > MAX_COLUMN ? `${clean.slice(0, MAX_COLUMN - 1)}…` : clean;
}

/** `127.0.0.1:2575`, `[::1]:2575`. */
export function hostPort(host: string, port: number): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** MSH-9 (code^trigger) and MSH-10 of a message, else of its first line when that is a readable MSH. */
function headerOf(bytes: Buffer, parsed: Hl7Message | undefined): { type?: string; controlId?: string } {
  let msg = parsed;
  if (!msg) {
    const text = bytes.toString('latin1', 0, Math.min(bytes.length, 64 * 1024)).replace(/^\xEF\xBB\xBF/, '');
    const line = text.replace(/^[\r\n ]+/, '').split(/[\r\n]/, 1)[0] ?? '';
    if (line.startsWith('MSH')) {
      try {
        msg = Hl7Message.parse(line);
      } catch {
        msg = undefined;
      }
    }
  }
  return msg ? { type: msg.messageType, controlId: msg.controlId } : {};
}

/** MSA-1 and MSA-2 of a reply the handler built. */
function ackOf(reply: MllpReply): { code: string; controlId: string } {
  const bytes = replyBytes(reply);
  if (!bytes) return { code: '', controlId: '' };
  const ack = reply instanceof Hl7Message ? reply : Hl7Message.parse(bytes);
  return { code: ack.get('MSA-1'), controlId: ack.get('MSA-2') };
}

function tlsOptions(options: ListenOptions): MllpServerTlsOptions | undefined {
  if (!options.tls) return undefined;
  if (!options.cert || !options.key) {
    throw new ListenStartError('--tls needs --cert and --key (the server certificate and its key)', true);
  }
  let files: ReturnType<typeof readTlsFiles>;
  try {
    files = readTlsFiles(options);
  } catch (err) {
    throw new ListenStartError(
      `cannot read a TLS file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      true,
    );
  }
  return options.ca ? { ...files, requestCert: true } : files;
}

/**
 * `sinew listen`: an MLLP listener that acknowledges every message (AA, or AE/AR with an ERR
 * segment), prints one line per message that names no content (time, peer, MSH-9, MSH-10,
 * ACK code) and, with `out`, stores each accepted message before it is acknowledged.
 */
export class Listener {
  readonly counts: ListenCounts = { messages: 0, accepted: 0, notAccepted: 0 };
  /** Peers of the open connections, for lines about frames the handler never sees. */
  private readonly peers = new Map<number, MllpConnectionContext>();

  private readonly server: MllpServer;

  private constructor(
    options: ListenOptions,
    tls: MllpServerTlsOptions | undefined,
    private readonly io: ListenIo,
    private readonly dir: MessageDirectory | undefined,
  ) {
    this.server = new MllpServer(
      { host: options.host, port: options.port, tls, maxMessageBytes: options.maxMessageBytes },
      (bytes, context) => this.handle(bytes, context),
    );
    this.server.on('connection', (c) => this.peers.set(c.connectionId, c));
    this.server.on('disconnect', (c) => this.peers.delete(c.connectionId));
    this.server.on('connectionError', (e) => this.onConnectionError(e));
  }

  /** Binds the port and prints `listening on HOST:PORT`. */
  static async start(options: ListenOptions, io: ListenIo): Promise<Listener> {
    const tls = tlsOptions(options);
    let dir: MessageDirectory | undefined;
    if (options.out !== undefined) {
      try {
        dir = await MessageDirectory.open(options.out);
      } catch (err) {
        throw new ListenStartError(
          `cannot write to ${options.out} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
          true,
        );
      }
    }
    const listener = new Listener(options, tls, io, dir);
    const server = listener.server;
    try {
      await server.start();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ListenStartError(`cannot listen on ${hostPort(options.host, options.port)} (${code})`, false);
    }
    const { host, port } = server.address();
    const mode = tls ? (tls.requestCert ? ' (TLS, client certificates required)' : ' (TLS)') : '';
    io.stdout(`listening on ${hostPort(host, port)}${mode}\n`);
    return listener;
  }

  get address(): { host: string; port: number } {
    return this.server.address();
  }

  /**
   * Stops taking connections and messages, lets the messages in flight be stored and
   * acknowledged, closes the connections, and prints the summary.
   */
  async stop(): Promise<ListenCounts> {
    await this.server.stop();
    const c = this.counts;
    this.io.stderr(
      `sinew listen: stopped; ${c.messages} message(s): ${c.accepted} accepted, ${c.notAccepted} not accepted\n`,
    );
    return c;
  }

  private now(): Date {
    return this.io.now ? this.io.now() : new Date();
  }

  private print(
    peer: MllpConnectionContext | undefined,
    type: string,
    controlId: string,
    code: string,
  ): void {
    this.counts.messages++;
    if (code === 'AA') this.counts.accepted++;
    else this.counts.notAccepted++;
    const remote = peer ? hostPort(peer.remoteAddress, peer.remotePort) : '-';
    this.io.stdout(
      `${[this.now().toISOString(), remote, column(type), column(controlId), column(code)].join('\t')}\n`,
    );
  }

  private async handle(bytes: Buffer, context: MllpConnectionContext): Promise<MllpReply> {
    let parsed: Hl7Message | undefined;
    const acking = ackingHandler(async (message) => {
      parsed = message;
      if (this.dir) await this.dir.write(bytes, message.controlId, this.now());
    });
    let reply: MllpReply;
    try {
      reply = await acking(bytes, context);
    } catch (err) {
      const header = headerOf(bytes, parsed);
      this.print(context, header.type ?? '', header.controlId ?? '', 'AR');
      const code = (err as NodeJS.ErrnoException).code;
      this.io.stderr(
        code
          ? `sinew listen: could not store a message (${code}); answered AR\n`
          : `sinew listen: could not process a message (${err instanceof Error ? err.name : 'error'}); answered AR\n`,
      );
      throw err;
    }
    const ack = ackOf(reply);
    const header = headerOf(bytes, parsed);
    this.print(context, header.type ?? '', header.controlId || ack.controlId, ack.code);
    return reply;
  }

  private onConnectionError(error: MllpError): void {
    const peer = error.connectionId === undefined ? undefined : this.peers.get(error.connectionId);
    switch (error.code) {
      case MllpErrorCode.FrameTooLarge:
        // Answered AR by the server: a message like any other for the output.
        this.print(peer, '', '', 'AR');
        break;
      case MllpErrorCode.HandlerFailed:
      case MllpErrorCode.IdleTimeout:
        // Reported when it happened / normal operation.
        return;
    }
    const from = peer ? ` (${hostPort(peer.remoteAddress, peer.remotePort)})` : '';
    this.io.stderr(`sinew listen: ${error.toString()}${from}\n`);
  }
}
