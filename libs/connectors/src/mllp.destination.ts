import { MllpClient, MllpError, MllpErrorCode, type MllpSendResult } from '@sinew/mllp';
import { z } from 'zod';
import { millis, portField } from './common';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
} from './connector';
import { clientTlsConfig, loadClientTls } from './tls-config';

export const mllpDestinationConfig = z.strictObject({
  host: z.string().min(1).describe('Host name or address of the receiving system.'),
  port: portField(2575, 'Its MLLP port.'),
  tls: clientTlsConfig
    .optional()
    .describe(
      'Connect with TLS (1.2 or later); `{}` trusts the system CAs. Give `cert` and `key` for mutual TLS.',
    ),
  connectTimeoutMs: millis(10_000, 'Longest wait for the connection (and TLS handshake).'),
  ackTimeoutMs: millis(30_000, 'Longest wait for the acknowledgement of a message.'),
  onApplicationError: z
    .enum(['retry', 'fail'])
    .default('retry')
    .describe(
      'What an AE/CE acknowledgement means: `retry` sends the message again later (the peer had a ' +
        'transient problem), `fail` dead-letters it at once. AR/CR always dead-letters.',
    ),
});
export type MllpDestinationConfig = z.output<typeof mllpDestinationConfig>;

/** Short codes of the MLLP failures that are worth another attempt. */
const RETRY_CODE: Partial<Record<MllpErrorCode, string>> = {
  [MllpErrorCode.AckTimeout]: 'TIMEOUT',
  [MllpErrorCode.ConnectTimeout]: 'CONNECT_TIMEOUT',
  [MllpErrorCode.ConnectionClosed]: 'CONNECTION_CLOSED',
  [MllpErrorCode.TlsHandshake]: 'TLS',
  [MllpErrorCode.InvalidAck]: 'INVALID_ACK',
  [MllpErrorCode.Closed]: 'CLOSED',
};

/** The errno-style code a connection failure names (`could not connect (ECONNREFUSED)`). */
function failureCode(error: MllpError | undefined): string {
  if (!error) return 'ERROR';
  if (error.code === MllpErrorCode.ConnectFailed) {
    return /\(([A-Z][A-Z0-9_]+)\)/.exec(error.message)?.[1] ?? 'CONNECT_FAILED';
  }
  return RETRY_CODE[error.code] ?? 'ERROR';
}

/** What the ACK said, for the error text: MSA-3 and the ERR texts. */
function ackText(result: MllpSendResult): string {
  const parts = [result.text, ...result.errors].filter((t) => t !== '');
  return parts.length > 0 ? `: ${[...new Set(parts)].join('; ')}` : '';
}

/**
 * Sends HL7 v2 over one persistent MLLP connection (opened on the first message, reopened
 * after it drops) and reads each message's ACK.
 */
export class MllpDestination implements Destination {
  private readonly client: MllpClient;

  constructor(
    private readonly config: MllpDestinationConfig,
    private readonly context: DestinationContext,
  ) {
    const { host, port, tls, connectTimeoutMs, ackTimeoutMs } = config;
    this.client = new MllpClient({
      host,
      port,
      connectTimeoutMs,
      ackTimeoutMs,
      // The engine's retry policy owns the waiting; one attempt per delivery.
      reconnect: { attempts: 1 },
      ...(tls ? { tls: loadClientTls(tls) } : {}),
    });
  }

  async send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    if (request.contentType !== 'hl7v2') {
      return {
        status: 'failed',
        code: 'UNSUPPORTED',
        error: `the mllp destination sends HL7 v2 only; this payload is ${request.contentType}`,
      };
    }
    let result: MllpSendResult;
    try {
      result = await this.client.send(request.body);
    } catch (err) {
      if (err instanceof MllpError)
        return { status: 'failed', code: 'INVALID_MESSAGE', error: err.toString() };
      throw err;
    }
    const response = result.ack?.toBuffer();
    const withResponse = response ? { response } : {};
    switch (result.status) {
      case 'accepted':
        return { status: 'sent', code: result.code, ...withResponse };
      case 'error': {
        const error = `the receiver answered ${result.code}${ackText(result)}`;
        return this.config.onApplicationError === 'retry'
          ? { status: 'retry', code: result.code, error, ...withResponse }
          : { status: 'failed', code: result.code, error, ...withResponse };
      }
      case 'rejected':
        return {
          status: 'failed',
          code: result.code,
          error: `the receiver rejected the message (${result.code})${ackText(result)}`,
          ...withResponse,
        };
      case 'invalid_reply':
      case 'timeout':
      case 'connection_failed':
        return {
          status: 'retry',
          code: result.code !== '' ? result.code : failureCode(result.error),
          error: result.error?.toString() ?? `no acknowledgement (${result.status})`,
          ...withResponse,
        };
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }

  describe(): string {
    return `${this.config.tls ? 'mllps' : 'mllp'}://${this.config.host}:${this.config.port}`;
  }
}

export const mllpDestination: DestinationDefinition<MllpDestinationConfig> = {
  kind: 'destination',
  type: 'mllp',
  description:
    'Sends HL7 v2 messages over MLLP (TCP, or TLS and mutual TLS) on one persistent connection, and reads ' +
    'each acknowledgement: AA/CA is delivered; AE/CE is retried (or dead-lettered with ' +
    '`onApplicationError: fail`); AR/CR is dead-lettered; no ACK in time, a refused or dropped connection, ' +
    'or a reply that is not an ACK is retried.',
  guarantee:
    'At least once: a message counts as delivered only when the peer acknowledged it with AA/CA; after a ' +
    'timeout it is sent again, so the peer may see it twice (same MSH-10).',
  configSchema: mllpDestinationConfig,
  example: {
    host: 'ehr.clinic.example',
    port: 6661,
    tls: { ca: '/etc/sinew/tls/ehr-ca.crt' },
    ackTimeoutMs: 15000,
    onApplicationError: 'fail',
  },
  create: (config, context) => new MllpDestination(config, context),
};
