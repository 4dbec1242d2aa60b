import { createHash, timingSafeEqual } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { handlerFailureNack } from '@sinew/mllp';
import { z } from 'zod';
import { errorCode, formatHostPort, listenField, millis } from './common';
import { httpReply } from './acker';
import type { IngestReply, PayloadType, Source, SourceContext, SourceDefinition } from './connector';
import { findJsonSyntaxError } from './json-syntax';
import { IssueType, operationOutcome, type OperationOutcome } from './operation-outcome';
import { loadServerTls, serverTlsConfig } from './tls-config';

export const httpSourceConfig = z.strictObject({
  listen: listenField(8081, 'Address to accept HTTP(S) requests on:'),
  path: z
    .string()
    .regex(/^\/[^?#\s]*$/, 'a path starts with / and has no query, fragment or spaces')
    .default('/')
    .describe('URL path messages are POSTed to; other paths answer 404.'),
  tls: serverTlsConfig
    .optional()
    .describe('Serve HTTPS (TLS 1.2 or later); with `request_cert`, mutual TLS.'),
  max_body_bytes: z
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024)
    .describe('Largest request body accepted, in bytes; a larger one is answered 413.'),
  auth_token: z
    .string()
    .min(1)
    .optional()
    .describe(
      'When set, every request must carry `Authorization: Bearer <auth_token>`; others are answered 401. ' +
        'Write it as `${ENV_VAR}` to keep it out of the channel file.',
    ),
  request_timeout_ms: millis(30_000, 'Longest time a client may take to send a whole request.'),
  retry_after_seconds: z
    .number()
    .int()
    .min(0)
    .default(5)
    .describe('`Retry-After` sent with 503 when a message could not be stored.'),
});
export type HttpSourceConfig = z.output<typeof httpSourceConfig>;

const PROCESSING_FAILED = 'the message could not be processed; send it again later';
const ACK_CONTENT_TYPE = 'application/hl7-v2';
const HL7_MEDIA_TYPES = new Set(['application/hl7-v2', 'x-application/hl7-v2+er7']);

/** How a request body is to be read, from its Content-Type. */
type BodyKind = 'hl7v2' | 'text-plain' | 'fhir' | 'json';

function bodyKind(contentType: string | undefined): BodyKind | undefined {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (HL7_MEDIA_TYPES.has(media)) return 'hl7v2';
  if (media === 'text/plain') return 'text-plain';
  if (media === 'application/fhir+json') return 'fhir';
  if (media === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(media)) return 'json';
  return undefined;
}

/** True when the body starts (after a BOM and blank lines) with an HL7 v2 header segment. */
function looksLikeHl7(body: Buffer): boolean {
  const head = body
    .subarray(0, 64)
    .toString('latin1')
    .replace(/^\u00ef\u00bb\u00bf/, '');
  return /^\s*(MSH|FHS|BHS)/.test(head);
}

/** A JSON syntax error as a diagnostics text: where it is, never what the body holds. */
function jsonErrorText(text: string): string {
  const error = findJsonSyntaxError(text);
  if (!error) return 'the body is not valid JSON';
  if (error.truncated) return 'the body is not valid JSON: it ends before the value is complete';
  return `the body is not valid JSON: expected ${error.expected} at line ${error.line}, column ${error.column}`;
}

interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  /** Bytes sent as they are (an HL7 ACK), or a value sent as JSON. */
  body: Buffer | unknown;
  contentType?: string;
}

function outcomeAnswer(
  status: number,
  outcome: OperationOutcome,
  headers?: Record<string, string>,
): HttpAnswer {
  return { status, body: outcome, contentType: 'application/fhir+json', ...(headers ? { headers } : {}) };
}

/** A bearer token check that takes the same time whatever the token given. */
function tokenMatches(header: string | undefined, expected: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  const hash = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(hash(match[1] as string), hash(expected));
}

/**
 * An HTTP(S) listener: HL7 v2, FHIR and JSON bodies POSTed to one path are handed to the
 * engine; the engine's answer becomes the HTTP status and body.
 */
export class HttpSource implements Source {
  private server: Server | undefined;
  private stopping: Promise<void> | undefined;
  private inFlight = 0;
  private idle: (() => void) | undefined;

  constructor(
    private readonly config: HttpSourceConfig,
    private readonly context: SourceContext,
  ) {}

  async start(): Promise<void> {
    if (this.server) throw new Error('the HTTP source is already started');
    const { tls, request_timeout_ms: requestTimeout } = this.config;
    const onRequest = (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res);
    const server = tls
      ? createHttpsServer({ ...loadServerTls(tls), requestTimeout }, onRequest)
      : createHttpServer({ requestTimeout }, onRequest);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.listen.port, this.config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) =>
      this.context.logger.warn(
        { channelId: this.context.channelId, error: errorCode(err) },
        'HTTP listener error',
      ),
    );
    server.on('tlsClientError', (err) =>
      this.context.logger.warn(
        { channelId: this.context.channelId, error: errorCode(err) },
        'TLS handshake failed',
      ),
    );
    this.server = server;
  }

  /**
   * Stops accepting connections, lets requests in flight finish (their responses close their
   * connections) for up to `timeoutMs`, then closes every connection.
   */
  stop(timeoutMs = 10_000): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    this.stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (this.inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          this.idle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      server.closeAllConnections();
      await closed;
    })();
    return this.stopping;
  }

  describe(): string {
    const scheme = this.config.tls ? 'https' : 'http';
    const { listen, path } = this.config;
    return `${scheme}://${formatHostPort({ host: listen.host, port: this.port() ?? listen.port })}${path}`;
  }

  port(): number | undefined {
    const address = this.server?.address() as AddressInfo | null | undefined;
    return address ? address.port : undefined;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight++;
    res.once('close', () => {
      this.inFlight--;
      if (this.inFlight === 0) this.idle?.();
    });
    // Answered when its work ends; the server does not wait on the handler.
    void this.answer(req)
      .catch((err: unknown) => {
        this.context.logger.error(
          { channelId: this.context.channelId, error: errorCode(err) },
          'HTTP request failed; answered 500',
        );
        return outcomeAnswer(500, operationOutcome(IssueType.Exception, PROCESSING_FAILED));
      })
      .then((answer) => this.write(req, res, answer));
  }

  private write(req: IncomingMessage, res: ServerResponse, answer: HttpAnswer): void {
    const body = Buffer.isBuffer(answer.body)
      ? answer.body
      : Buffer.from(JSON.stringify(answer.body), 'utf8');
    const headers: Record<string, string | number> = {
      'content-type': answer.contentType ?? 'application/json',
      'content-length': body.length,
      ...answer.headers,
    };
    // A request whose body was not read in full cannot leave its connection reusable.
    if (this.stopping || !req.complete) headers.connection = 'close';
    res.writeHead(answer.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    if (!req.complete) res.once('finish', () => req.socket.destroySoon());
  }

  private async answer(req: IncomingMessage): Promise<HttpAnswer> {
    const { path, auth_token: authToken, max_body_bytes: maxBodyBytes } = this.config;
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname !== path) {
      return outcomeAnswer(
        404,
        operationOutcome(IssueType.NotFound, `nothing is served here; POST messages to ${path}`),
      );
    }
    if (authToken !== undefined && !tokenMatches(req.headers.authorization, authToken)) {
      return outcomeAnswer(
        401,
        operationOutcome(IssueType.Login, 'a valid bearer token is required (Authorization: Bearer <token>)'),
        { 'www-authenticate': 'Bearer realm="sinew"' },
      );
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      return {
        status: 200,
        body: {
          status: this.stopping ? 'stopping' : 'ready',
          accepts: [
            'application/hl7-v2',
            'x-application/hl7-v2+er7',
            'text/plain',
            'application/fhir+json',
            'application/json',
          ],
        },
      };
    }
    if (req.method !== 'POST') {
      return outcomeAnswer(
        405,
        operationOutcome(
          IssueType.NotSupported,
          `method ${req.method ?? ''} is not allowed; POST messages here`,
        ),
        { allow: 'POST, GET, HEAD' },
      );
    }
    const kind = bodyKind(req.headers['content-type']);
    if (!kind) {
      return outcomeAnswer(
        415,
        operationOutcome(
          IssueType.NotSupported,
          'unsupported Content-Type: send application/hl7-v2, x-application/hl7-v2+er7, text/plain (HL7 v2), ' +
            'application/fhir+json or application/json',
        ),
      );
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBodyBytes) return tooLarge(maxBodyBytes);
    const body = await readBody(req, maxBodyBytes);
    if (body === undefined) return tooLarge(maxBodyBytes);
    if (body.length === 0)
      return outcomeAnswer(400, operationOutcome(IssueType.Required, 'the body is empty'));

    let contentType: PayloadType;
    if (kind === 'hl7v2') contentType = 'hl7v2';
    else if (kind === 'text-plain') {
      if (!looksLikeHl7(body)) {
        return outcomeAnswer(
          415,
          operationOutcome(
            IssueType.NotSupported,
            'a text/plain body must be an HL7 v2 message starting with MSH',
          ),
        );
      }
      contentType = 'hl7v2';
    } else {
      const text = body.toString('utf8').replace(/^\uFEFF/, '');
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return outcomeAnswer(400, operationOutcome(IssueType.Structure, jsonErrorText(text)));
      }
      const resourceType =
        typeof value === 'object' && value !== null && !Array.isArray(value)
          ? (value as { resourceType?: unknown }).resourceType
          : undefined;
      if (typeof resourceType === 'string' && resourceType !== '') contentType = 'fhir';
      else if (kind === 'fhir') {
        return outcomeAnswer(
          400,
          operationOutcome(
            IssueType.Required,
            'an application/fhir+json body must be a FHIR resource with a resourceType',
          ),
        );
      } else contentType = 'json';
    }

    let reply: IngestReply;
    try {
      reply = await this.context.ingest({
        body,
        contentType,
        source: 'http',
        ...(req.socket.remoteAddress !== undefined ? { remoteAddress: req.socket.remoteAddress } : {}),
      });
    } catch (err) {
      this.context.logger.error(
        { channelId: this.context.channelId, error: errorCode(err) },
        'ingest failed; answered 500',
      );
      return contentType === 'hl7v2'
        ? { status: 500, body: handlerFailureNack(body), contentType: ACK_CONTENT_TYPE }
        : outcomeAnswer(500, operationOutcome(IssueType.Exception, PROCESSING_FAILED));
    }
    return toHttp(reply, contentType, this.config.retry_after_seconds);
  }
}

function tooLarge(maxBodyBytes: number): HttpAnswer {
  return outcomeAnswer(
    413,
    operationOutcome(IssueType.TooLong, `the body is larger than the limit of ${maxBodyBytes} bytes`),
  );
}

/** The body, or undefined once it grows past `max` bytes (reading stops there). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The HTTP answer for the engine's reply (the HTTP acker decides status and body). */
function toHttp(reply: IngestReply, contentType: PayloadType, retryAfterSeconds: number): HttpAnswer {
  return httpReply(reply, contentType === 'hl7v2', retryAfterSeconds);
}

export const httpSource: SourceDefinition<HttpSourceConfig> = {
  kind: 'source',
  produces: () => ['hl7v2', 'fhir', 'json'],
  type: 'http',
  description:
    'Listens for HTTP(S) POSTs on one path: HL7 v2 (`application/hl7-v2`, `x-application/hl7-v2+er7`, or ' +
    '`text/plain` starting with MSH), FHIR resources (`application/fhir+json`, or JSON with a `resourceType`) ' +
    'and other JSON documents (webhooks). HL7 v2 is answered with the ACK as the body; FHIR and JSON with a JSON ' +
    'body (an OperationOutcome when refused). GET on the path answers a short JSON status.',
  guarantee:
    'At least once: 200/202 is sent only after the message is committed; 503 (with Retry-After) when it could not ' +
    'be stored, so the client keeps it and sends it again.',
  configSchema: httpSourceConfig,
  example: {
    listen: '0.0.0.0:8443',
    path: '/hl7',
    tls: { key: '/etc/sinew/tls/server.key', cert: '/etc/sinew/tls/server.crt' },
    auth_token: '${HTTP_SOURCE_TOKEN}',
  },
  create: (config, context) => new HttpSource(config, context),
};
