import { z } from 'zod';
import { httpUrl, millis } from './common';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
  PayloadType,
} from './connector';
import type https from 'node:https';
import { httpRequest, networkFailure, outcomeForStatus } from './http-client';
import { clientTlsConfig, httpsAgent, tlsFitsUrl } from './tls-config';

export const httpDestinationConfig = z
  .strictObject({
    url: httpUrl('https://pms.example/api/messages', 'Address the message is sent to (http or https).'),
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST').describe('HTTP method.'),
    headers: z
      .record(z.string(), z.string())
      .default({})
      .describe('Extra request headers, e.g. `Authorization: Bearer ${PMS_TOKEN}`.'),
    timeout_ms: millis(10_000, 'Longest wait for the complete response; past it the delivery is retried.'),
    content_type: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Content-Type of the request (default from the payload: `application/json`, `application/fhir+json`, ' +
          '`application/hl7-v2`, `text/plain; charset=utf-8`).',
      ),
    tls: clientTlsConfig
      .optional()
      .describe(
        'For an https:// url: the CA to trust instead of the system CAs, and a client certificate for mutual TLS.',
      ),
  })
  .refine((c) => tlsFitsUrl(c.url, c.tls), {
    message: 'tls applies to https:// URLs only',
    path: ['tls'],
  });
export type HttpDestinationConfig = z.output<typeof httpDestinationConfig>;

export const DEFAULT_CONTENT_TYPE: Record<PayloadType, string> = {
  json: 'application/json',
  fhir: 'application/fhir+json',
  hl7v2: 'application/hl7-v2',
  text: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  xml: 'application/xml',
};

/** Sends each message as the body of one HTTP request and classifies the status. */
export class HttpDestination implements Destination {
  private readonly agent: https.Agent | undefined;

  constructor(
    private readonly config: HttpDestinationConfig,
    private readonly context: DestinationContext,
  ) {
    this.agent = httpsAgent(config.tls);
  }

  async send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    const { url, method, headers, timeout_ms: timeoutMs, content_type: contentType } = this.config;
    const given = Object.fromEntries(
      Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'content-type'),
    );
    const headerType = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
    try {
      const res = await httpRequest(url, {
        method,
        headers: {
          ...given,
          'content-type': contentType ?? headerType ?? DEFAULT_CONTENT_TYPE[request.contentType],
        },
        body: request.body,
        timeoutMs,
        ...(this.agent ? { httpsAgent: this.agent } : {}),
      });
      return outcomeForStatus(res);
    } catch (err) {
      return networkFailure(err, url, timeoutMs);
    }
  }

  async close(): Promise<void> {
    this.agent?.destroy();
  }

  describe(): string {
    return `${this.config.method} ${this.config.url}`;
  }
}

export const httpDestination: DestinationDefinition<HttpDestinationConfig> = {
  kind: 'destination',
  accepts: ['hl7v2', 'fhir', 'json', 'text', 'csv', 'xml'],
  type: 'http',
  description:
    'Sends each message as the body of an HTTP(S) request (a PMS REST API, a webhook). 2xx is delivered and the ' +
    'response body kept; 408, 429 and 5xx, network errors and timeouts are retried (a `Retry-After` header sets ' +
    'the wait); any other status (4xx, a redirect) dead-letters the message with the response kept.',
  guarantee:
    'At least once: a message counts as delivered only on a 2xx; after a timeout it is sent again, so the ' +
    'receiver should treat repeats as the same message.',
  configSchema: httpDestinationConfig,
  example: {
    url: 'https://pms.clinic.example/api/appointments',
    method: 'POST',
    headers: { Authorization: 'Bearer ${PMS_API_TOKEN}' },
    timeout_ms: 5000,
  },
  create: (config, context) => new HttpDestination(config, context),
};
