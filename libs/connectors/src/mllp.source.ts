import { MllpErrorCode, MllpServer, handlerFailureNack, type MllpConnectionContext } from '@sinew/mllp';
import { Hl7Message } from '@sinew/hl7v2';
import { z } from 'zod';
import { errorCode, formatHostPort, listenField } from './common';
import { hl7Reply } from './acker';
import type { IngestReply, Source, SourceContext, SourceDefinition } from './connector';
import { loadServerTls, serverTlsConfig } from './tls-config';

export const mllpSourceConfig = z.strictObject({
  listen: listenField(2575, 'Address to accept MLLP connections on:'),
  tls: serverTlsConfig
    .optional()
    .describe('Listen with TLS (1.2 or later) instead of plain TCP; with `request_cert`, mutual TLS.'),
  max_connections: z
    .number()
    .int()
    .positive()
    .default(100)
    .describe('Connections open at once; further ones are closed as they arrive.'),
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
});
export type MllpSourceConfig = z.output<typeof mllpSourceConfig>;

/** An MLLP listener handing every frame to the engine and answering with the engine's ACK. */
export class MllpSource implements Source {
  private server: MllpServer | undefined;

  constructor(
    private readonly config: MllpSourceConfig,
    private readonly context: SourceContext,
  ) {}

  async start(): Promise<void> {
    if (this.server) throw new Error('the MLLP source is already started');
    const { listen, tls, max_connections, max_message_bytes, idle_timeout_ms } = this.config;
    const server = new MllpServer(
      {
        host: listen.host,
        port: listen.port,
        maxConnections: max_connections,
        maxMessageBytes: max_message_bytes,
        idleTimeoutMs: idle_timeout_ms,
        ...(tls ? { tls: loadServerTls(tls) } : {}),
      },
      (bytes, connection) => this.handle(bytes, connection),
    );
    server.on('connectionError', (err) => {
      const entry = { channelId: this.context.channelId, code: err.code, connectionId: err.connectionId };
      // A sender leaving its connection idle is routine; everything else deserves a warning.
      if (err.code === MllpErrorCode.IdleTimeout) this.context.logger.info(entry, err.message);
      else this.context.logger.warn(entry, err.message);
    });
    await server.start();
    this.server = server;
  }

  async stop(timeoutMs?: number): Promise<void> {
    await this.server?.stop(timeoutMs);
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
