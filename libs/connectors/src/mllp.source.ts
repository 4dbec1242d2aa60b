import {
  MllpServer,
  addressEntryProblem,
  closeReasonOf,
  handlerFailureNack,
  type MllpCloseReason,
  type MllpConnectionContext,
  type MllpError,
} from '@sinew/mllp';
import { Hl7Message } from '@sinew/hl7v2';
import { z } from 'zod';
import { errorCode, formatHostPort, listenField } from './common';
import { hl7Reply } from './acker';
import type { IngestReply, Source, SourceContext, SourceDefinition } from './connector';
import { loadServerTls, serverTlsConfig, watchServerTls } from './tls-config';

/** An IP address or a CIDR block. */
const addressEntry = z.string().superRefine((entry, ctx) => {
  const problem = addressEntryProblem(entry);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const mllpSourceConfig = z
  .strictObject({
    listen: listenField(2575, 'Address to accept MLLP connections on:'),
    tls: serverTlsConfig
      .optional()
      .describe('Listen with TLS (1.2 or later) instead of plain TCP; with `request_cert`, mutual TLS.'),
    max_connections: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe(
        'Connections open at once. When all are open, a new one takes the place of the longest-idle ' +
          'connection with no message in progress; when there is none, it is closed as it arrives.',
      ),
    max_connections_per_peer: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe(
        'Connections open at once from one address; further ones are closed as they arrive (0: no limit).',
      ),
    frame_timeout_ms: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe(
        'Time a sender has to finish a message once its first byte arrived; a connection still in ' +
          'the middle of one then is closed, however many bytes keep trickling in (0: no limit).',
      ),
    allow: z
      .array(addressEntry)
      .default([])
      .describe(
        'Addresses and CIDR blocks (`10.20.0.0/16`, `fd00::/8`) that may connect; connections from ' +
          'anywhere else are closed at once, unread. Empty: any address.',
      ),
    priority: z
      .array(addressEntry)
      .default([])
      .describe(
        'Addresses and CIDR blocks of the known senders: `reserved_connections` slots are kept for ' +
          'them, so that other peers can never take the last ones.',
      ),
    reserved_connections: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe(
        'Of `max_connections`, the slots only `priority` senders may take (without `priority`, none is kept).',
      ),
    max_message_bytes: z
      .number()
      .int()
      .positive()
      .default(1_048_576)
      .describe('Largest message accepted, in bytes; a larger one is answered AR and its connection closed.'),
    idle_timeout_ms: z
      .number()
      .int()
      .min(0)
      .default(60_000)
      .describe('A connection silent this long with no reply pending is closed (0: never).'),
  })
  .superRefine((config, ctx) => {
    if (config.priority.length > 0 && config.reserved_connections >= config.max_connections) {
      ctx.addIssue({
        code: 'custom',
        path: ['reserved_connections'],
        message: `reserved_connections (${config.reserved_connections}) must be smaller than max_connections (${config.max_connections})`,
      });
    }
  });
export type MllpSourceConfig = z.output<typeof mllpSourceConfig>;

/** What the one line per reason says, before its count. */
const CLOSE_TEXT: Record<MllpCloseReason, string> = {
  not_allowed: 'MLLP connections closed unread: their address is not on allow',
  per_peer_limit: 'MLLP connections refused: max_connections_per_peer from their address were open',
  full: 'MLLP connections refused: max_connections were open and none was idle',
  evicted: 'idle MLLP connections closed to make room for new ones (max_connections were open)',
  frame_timeout: 'MLLP connections closed: a message was not complete within frame_timeout_ms',
  idle: 'idle MLLP connections closed after idle_timeout_ms',
};

/**
 * Connections refused or closed for one reason: each counted in the metric at once, and
 * reported by at most one log line per interval, which gives how many there were since the
 * previous line and the last peer's address. An idle connection closing is routine (info);
 * the other reasons are warnings.
 */
class CloseReport {
  private count = 0;
  private lastPeer = '';
  private loggedAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly reason: MllpCloseReason,
    private readonly context: SourceContext,
    private readonly intervalMs: number,
  ) {}

  record(err: MllpError): void {
    this.context.metrics?.connectionClosed(this.reason);
    this.count++;
    this.lastPeer = err.remoteAddress ?? '';
    const wait = this.loggedAt + this.intervalMs - performance.now();
    if (wait <= 0) this.write();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.write(), wait);
      this.timer.unref();
    }
  }

  private write(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count === 0) return;
    const entry = {
      channelId: this.context.channelId,
      reason: this.reason,
      count: this.count,
      ...(this.lastPeer ? { lastPeer: this.lastPeer } : {}),
    };
    const since = Number.isFinite(this.loggedAt) ? 'since the last report' : 'since the channel started';
    const text = `${CLOSE_TEXT[this.reason]}: ${this.count} ${since}`;
    if (this.reason === 'idle') this.context.logger.info(entry, text);
    else this.context.logger.warn(entry, text);
    this.count = 0;
    this.loggedAt = performance.now();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Options of an {@link MllpSource} that are not part of its configuration. */
export interface MllpSourceOptions {
  /** Least time between two log lines for one close reason (default 60,000 ms). */
  closeReportIntervalMs?: number;
}

/** An MLLP listener handing every frame to the engine and answering with the engine's ACK. */
export class MllpSource implements Source {
  private server: MllpServer | undefined;
  private readonly reports = new Map<MllpCloseReason, CloseReport>();

  constructor(
    private readonly config: MllpSourceConfig,
    private readonly context: SourceContext,
    private readonly options: MllpSourceOptions = {},
  ) {}

  async start(): Promise<void> {
    if (this.server) throw new Error('the MLLP source is already started');
    const { listen, tls, max_connections, max_message_bytes, idle_timeout_ms } = this.config;
    const server = new MllpServer(
      {
        host: listen.host,
        port: listen.port,
        maxConnections: max_connections,
        maxConnectionsPerPeer: this.config.max_connections_per_peer,
        frameTimeoutMs: this.config.frame_timeout_ms,
        allow: this.config.allow,
        priority: this.config.priority,
        reservedConnections: this.config.reserved_connections,
        maxMessageBytes: max_message_bytes,
        idleTimeoutMs: idle_timeout_ms,
        ...(tls ? { tls: loadServerTls(tls) } : {}),
      },
      (bytes, connection) => this.handle(bytes, connection),
    );
    server.on('connectionError', (err) => {
      const reason = closeReasonOf(err.code);
      if (reason) {
        this.reportFor(reason).record(err);
        return;
      }
      const entry = { channelId: this.context.channelId, code: err.code, connectionId: err.connectionId };
      this.context.logger.warn(entry, err.message);
    });
    await server.start();
    this.server = server;
    if (tls) {
      this.stopWatchingTls = watchServerTls(
        tls,
        (options) => {
          server.reloadTls(options);
          this.context.logger.info({ channelId: this.context.channelId }, 'TLS certificate reloaded');
        },
        (err) =>
          this.context.logger.warn(
            { channelId: this.context.channelId, error: err.message },
            'TLS files changed but cannot be used; the current certificate stays',
          ),
      );
    }
  }

  private stopWatchingTls?: () => void;

  async stop(timeoutMs?: number): Promise<void> {
    this.stopWatchingTls?.();
    await this.server?.stop(timeoutMs);
    for (const report of this.reports.values()) report.stop();
  }

  private reportFor(reason: MllpCloseReason): CloseReport {
    let report = this.reports.get(reason);
    if (!report) {
      report = new CloseReport(reason, this.context, this.options.closeReportIntervalMs ?? 60_000);
      this.reports.set(reason, report);
    }
    return report;
  }

  describe(): string {
    const scheme = this.config.tls ? 'mllps' : 'mllp';
    const { host, port } = this.config.listen;
    return `${scheme}://${formatHostPort({ host, port: this.port() ?? port })}`;
  }

  port(): number | undefined {
    return this.server?.port;
  }

  private async handle(bytes: Buffer, connection: MllpConnectionContext): Promise<Buffer> {
    let reply: IngestReply;
    try {
      reply = await this.context.ingest({
        body: bytes,
        contentType: 'hl7v2',
        source: 'mllp',
        remoteAddress: connection.remoteAddress,
        connectionId: connection.connectionId,
      });
    } catch (err) {
      this.context.logger.error(
        { channelId: this.context.channelId, connectionId: connection.connectionId, error: errorCode(err) },
        'ingest failed; answered AR',
      );
      return handlerFailureNack(bytes);
    }
    if (reply.reply) return reply.reply;
    let received: Hl7Message | Buffer = bytes;
    try {
      received = Hl7Message.parse(bytes);
    } catch {
      // Not parseable: the acker answers from what can be read of the first line.
    }
    return hl7Reply(reply.disposition, received, 'original');
  }
}

export const mllpSource: SourceDefinition<MllpSourceConfig> = {
  kind: 'source',
  produces: () => ['hl7v2'],
  type: 'mllp',
  description:
    'Listens for HL7 v2 messages over MLLP (TCP, or TLS and mutual TLS). Each message is handed to ' +
    'the channel and answered with the ACK the channel gives: AA once it is durably stored, AE/AR with ' +
    'an ERR segment when it is refused, AR when it could not be stored (the sender keeps it and sends ' +
    'it again). Replies on one connection keep the order the messages arrived in.',
  guarantee:
    'At least once: a message is acknowledged (AA) only after it is committed; a sender that gets ' +
    'no ACK, or AR, sends it again, and duplicates are recognised by the channel.',
  configSchema: mllpSourceConfig,
  example: {
    listen: '0.0.0.0:2575',
    tls: {
      key: '/etc/sinew/tls/server.key',
      cert: '/etc/sinew/tls/server.crt',
      ca: '/etc/sinew/tls/lab-ca.crt',
      request_cert: true,
    },
    max_message_bytes: 4_194_304,
  },
  create: (config, context) => new MllpSource(config, context),
};
