import { MllpClient, MllpError, MllpErrorCode, type MllpSendResult } from '@sinew/mllp';
import { z } from 'zod';
import { formatHostPort, millis, parseHostPort, type HostPort } from './common';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
} from './connector';
import { clientTlsConfig, loadClientTls } from './tls-config';

const URL_FORM = 'write mllp://HOST:PORT, or mllps://HOST:PORT for TLS (IPv6 in brackets: mllp://[::1]:2575)';

/** The receiving system's address: `mllp://HOST:PORT`, or `mllps://HOST:PORT` for TLS. */
export interface MllpPeer extends HostPort {
  secure: boolean;
}

const mllpUrl = z
  .string({ error: `expected the receiving system's address as a text: ${URL_FORM}` })
  .transform((text, ctx): MllpPeer => {
    const match = /^(mllps?):\/\/(.*?)\/?$/i.exec(text.trim());
    if (!match) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not an MLLP URL; ${URL_FORM}` });
      return z.NEVER;
    }
    const address = parseHostPort(match[2] as string, 1);
    if ('error' in address) {
      ctx.addIssue({ code: 'custom', message: `${address.error} in "${text}"; ${URL_FORM}` });
      return z.NEVER;
    }
    return { ...address, secure: (match[1] as string).toLowerCase() === 'mllps' };
  })
  .describe(
    'Address of the receiving system: `mllp://HOST:PORT` (plain TCP), or `mllps://HOST:PORT` for TLS ' +
      '(the system CAs are trusted unless `tls` says otherwise). IPv6 in brackets: `mllp://[::1]:2575`.',
  );

export const mllpDestinationConfig = z
  .strictObject({
    url: mllpUrl,
    tls: clientTlsConfig
      .optional()
      .describe('TLS settings for an `mllps://` url: CAs to trust; `cert` and `key` for mutual TLS.'),
    connect_timeout_ms: millis(10_000, 'Longest wait for the connection (and TLS handshake).'),
    ack_timeout_ms: millis(30_000, 'Longest wait for the acknowledgement of a message.'),
    on_application_error: z
      .enum(['retry', 'fail'])
      .default('retry')
      .describe(
        'What an AE/CE acknowledgement means: `retry` sends the message again later (the peer had a ' +
          'transient problem), `fail` dead-letters it at once. AR/CR always dead-letters.',
      ),
  })
  .refine((c) => c.tls === undefined || c.url.secure, {
    message: 'tls applies to TLS connections only: write the url as mllps://HOST:PORT',
    path: ['tls'],
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
    const { url, tls, connect_timeout_ms, ack_timeout_ms } = config;
    this.client = new MllpClient({
      host: url.host,
      port: url.port,
      connectTimeoutMs: connect_timeout_ms,
      ackTimeoutMs: ack_timeout_ms,
      // The engine's retry policy owns the waiting; one attempt per delivery.
      reconnect: { attempts: 1 },
      ...(url.secure ? { tls: loadClientTls(tls ?? {}) } : {}),
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
        return this.config.on_application_error === 'retry'
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
    const { url } = this.config;
    return `${url.secure ? 'mllps' : 'mllp'}://${formatHostPort(url)}`;
  }
}

export const mllpDestination: DestinationDefinition<MllpDestinationConfig> = {
  kind: 'destination',
  accepts: ['hl7v2'],
  type: 'mllp',
  description:
    'Sends HL7 v2 messages over MLLP (TCP, or TLS and mutual TLS) on one persistent connection, and reads ' +
    'each acknowledgement: AA/CA is delivered; AE/CE is retried (or dead-lettered with ' +
    '`on_application_error: fail`); AR/CR is dead-lettered; no ACK in time, a refused or dropped connection, ' +
    'or a reply that is not an ACK is retried.',
  guarantee:
    'At least once: a message counts as delivered only when the peer acknowledged it with AA/CA; after a ' +
    'timeout it is sent again, so the peer may see it twice (same MSH-10).',
  configSchema: mllpDestinationConfig,
  example: {
    url: 'mllps://ehr.clinic.example:6661',
    tls: { ca: '/etc/sinew/tls/ehr-ca.crt' },
    ack_timeout_ms: 15000,
    on_application_error: 'fail',
  },
  create: (config, context) => new MllpDestination(config, context),
};
