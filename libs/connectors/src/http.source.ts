import { createHash, timingSafeEqual } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { handlerFailureNack } from '@sinew/mllp';
import { z } from 'zod';
import { errorCode, formatHostPort, listenField, millis } from './common';
import { httpReply } from './acker';
import type { IngestReply, PayloadType, Source, SourceContext, SourceDefinition } from './connector';
import { JsonScanner, type JsonScanProblem, type JsonScanResult } from './json-syntax';
import { IssueType, operationOutcome, type OperationOutcome } from './operation-outcome';
import { loadServerTls, serverTlsConfig, watchServerTls } from './tls-config';

export const httpSourceConfig = z
  .strictObject({
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
    api_keys: z
      .boolean()
      .default(false)
      .describe(
        'Also take Sinew API keys (`Authorization: Bearer snw_…`) holding the scope `ingest:<channel id>` ' +
          '(see docs/security.md); a valid key without it is answered 403. With `auth_token` too, either is enough.',
      ),
    max_json_depth: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe(
        'Deepest nesting of objects and arrays accepted in a JSON or FHIR body; a deeper one is answered 400 ' +
          'as soon as it crosses the limit, before anything parses it.',
      ),
    max_json_values: z
      .number()
      .int()
      .positive()
      .default(1_000_000)
      .describe(
        'Most values (objects, arrays, strings, numbers, literals) accepted in a JSON or FHIR body; a body ' +
          'with more is answered 413 as soon as it crosses the limit. A 10 MB FHIR Bundle holds about 600,000.',
      ),
    max_body_bytes_in_flight: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024)
      .describe(
        'Most request body bytes held at once over all requests (being received, or waiting for the engine); ' +
          'a request that would go past it is answered 503 with Retry-After. At least `max_body_bytes` is allowed.',
      ),
    headers_timeout_ms: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        'Longest time a client may take to send the request line and headers; the connection is then closed ' +
          '(408). At most `request_timeout_ms`; when not set, 10000, or `request_timeout_ms` when that is shorter.',
      ),
    request_timeout_ms: millis(
      30_000,
      'Longest time a client may take to send a whole request, body included; the connection is then closed (408).',
    ),
    keep_alive_timeout_ms: millis(
      5_000,
      'How long an idle kept-alive connection stays open waiting for the next request.',
    ),
    max_connections: z
      .number()
      .int()
      .positive()
      .default(256)
      .describe('Most connections open at once; further ones are closed on arrival.'),
    max_connections_per_client: z
      .number()
      .int()
      .positive()
      .default(32)
      .describe(
        'Most connections open at once from one client address (so most requests it has under way); further ' +
          'ones are closed on arrival. Behind a proxy every client has its address: raise it there.',
      ),
    retry_after_seconds: z
      .number()
      .int()
      .min(0)
      .default(5)
      .describe('`Retry-After` sent with 503 when a message could not be stored, or the server is busy.'),
  })
  .refine((c) => c.headers_timeout_ms === undefined || c.headers_timeout_ms <= c.request_timeout_ms, {
    path: ['headers_timeout_ms'],
    message: 'headers_timeout_ms must not be longer than request_timeout_ms',
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

/** The answer to a JSON body the scanner refused: where it breaks or which limit it crosses, never what it holds. */
function jsonRefusal(problem: JsonScanProblem): HttpAnswer {
  switch (problem.kind) {
    case 'depth':
      return outcomeAnswer(
        400,
        operationOutcome(
          IssueType.TooLong,
          `the JSON body nests deeper than the limit of ${problem.limit} levels (max_json_depth)`,
        ),
      );
    case 'values':
      return outcomeAnswer(
        413,
        operationOutcome(
          IssueType.TooLong,
          `the JSON body holds more than the limit of ${problem.limit} values (max_json_values)`,
        ),
      );
    case 'syntax':
      return outcomeAnswer(
        400,
        operationOutcome(
          IssueType.Structure,
          problem.truncated
            ? 'the body is not valid JSON: it ends before the value is complete'
            : `the body is not valid JSON: expected ${problem.expected} at line ${problem.line}, column ${problem.column}`,
        ),
      );
  }
}

/** `headers_timeout_ms` when not set (or `request_timeout_ms` when that is shorter). */
const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** How long a connection refused mid-body stays half-open so the client can read the answer. */
const LINGER_MS = 2_000;
/** Least time between two warnings about refused connections. */
const WARN_INTERVAL_MS = 10_000;

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
  /** Open connections per client address. */
  private readonly perClient = new Map<string, number>();
  /** Request body bytes held now, over all requests. */
  private bodyBytes = 0;
  /** Connections closed on arrival since the last warning, and when it was. */
  private refusedConnections = 0;
  private lastWarning = 0;

  constructor(
    private readonly config: HttpSourceConfig,
    private readonly context: SourceContext,
  ) {}

  async start(): Promise<void> {
    if (this.server) throw new Error('the HTTP source is already started');
    const { tls, request_timeout_ms: requestTimeout, keep_alive_timeout_ms: keepAliveTimeout } = this.config;
    const headersTimeout =
      this.config.headers_timeout_ms ?? Math.min(DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout);
    const options = {
      requestTimeout,
      headersTimeout,
      keepAliveTimeout,
      // Node checks the two timeouts on this interval (30 s by default): a quarter of the shorter
      // one keeps a timed-out connection open at most 25% past its deadline.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeout / 4))),
    };
    const onRequest = (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res);
    const server = tls
      ? createHttpsServer({ ...loadServerTls(tls), ...options }, onRequest)
      : createHttpServer(options, onRequest);
    server.maxConnections = this.config.max_connections;
    // Answered by the request handler: 100 Continue only for a request it will read.
    server.on('checkContinue', onRequest);
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    server.on('drop', () => this.refusedConnection());
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
    if (tls && server instanceof HttpsServer) {
      // New connections get a renewed certificate; the ones open keep theirs.
      this.stopWatchingTls = watchServerTls(
        tls,
        (options) => {
          server.setSecureContext(options);
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

  /**
   * Stops accepting connections, lets requests in flight finish (their responses close their
   * connections) for up to `timeoutMs`, then closes every connection.
   */
  stop(timeoutMs = 10_000): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    this.stopWatchingTls?.();
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

  /** Counts a connection against its client address's limit; closes it when over. */
  private onConnection(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const open = (this.perClient.get(address) ?? 0) + 1;
    if (open > this.config.max_connections_per_client) {
      socket.destroy();
      this.refusedConnection();
      return;
    }
    this.perClient.set(address, open);
    socket.once('close', () => {
      const left = (this.perClient.get(address) ?? 1) - 1;
      if (left > 0) this.perClient.set(address, left);
      else this.perClient.delete(address);
    });
  }

  /** A connection closed on arrival (a connection limit): warned of at most every 10 s. */
  private refusedConnection(): void {
    this.refusedConnections++;
    const now = Date.now();
    if (now - this.lastWarning < WARN_INTERVAL_MS) return;
    this.lastWarning = now;
    this.context.logger.warn(
      {
        channelId: this.context.channelId,
        refused: this.refusedConnections,
        maxConnections: this.config.max_connections,
        maxConnectionsPerClient: this.config.max_connections_per_client,
      },
      'HTTP connections closed on arrival: a connection limit was reached',
    );
    this.refusedConnections = 0;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight++;
    let held = 0;
    const hold = (bytes: number): boolean => {
      // One request may always hold up to max_body_bytes, even over the shared budget.
      const budget = Math.max(this.config.max_body_bytes_in_flight, this.config.max_body_bytes);
      if (this.bodyBytes + bytes > budget) return false;
      held += bytes;
      this.bodyBytes += bytes;
      return true;
    };
    res.once('close', () => {
      this.bodyBytes -= held;
      held = 0;
      this.inFlight--;
      if (this.inFlight === 0) this.idle?.();
    });
    // Answered when its work ends; the server does not wait on the handler.
    void this.answer(req, res, hold)
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
    if (res.destroyed || res.writableEnded) return;
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
    if (!req.complete) lingerOnClose(req);
    res.writeHead(answer.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** The static token or an API key with `ingest:<channel>`, as configured; an answer when refused. */
  private async checkCredentials(req: IncomingMessage): Promise<HttpAnswer | undefined> {
    const { auth_token: authToken, api_keys: apiKeys } = this.config;
    if (authToken === undefined && !apiKeys) return undefined;
    const header = req.headers.authorization;
    if (authToken !== undefined && tokenMatches(header, authToken)) return undefined;
    const key = apiKeys ? /^Bearer (snw_[\x21-\x7e]{1,200})$/.exec(header ?? '')?.[1] : undefined;
    if (key !== undefined && this.context.authorize) {
      const verdict = await this.context.authorize(key, req.socket.remoteAddress);
      if (verdict === 'ok') return undefined;
      if (verdict === 'forbidden')
        return outcomeAnswer(
          403,
          operationOutcome(
            IssueType.Forbidden,
            `the API key lacks the scope ingest:${this.context.channelId} for this channel`,
          ),
        );
    }
    return outcomeAnswer(
      401,
      operationOutcome(IssueType.Login, 'a valid bearer token is required (Authorization: Bearer <token>)'),
      { 'www-authenticate': 'Bearer realm="sinew"' },
    );
  }

  private async answer(
    req: IncomingMessage,
    res: ServerResponse,
    hold: (bytes: number) => boolean,
  ): Promise<HttpAnswer> {
    const { path, max_body_bytes: maxBodyBytes } = this.config;
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname !== path) {
      return outcomeAnswer(
        404,
        operationOutcome(IssueType.NotFound, `nothing is served here; POST messages to ${path}`),
      );
    }
    const refused = await this.checkCredentials(req);
    if (refused) return refused;
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
    if (/100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
    const scanner =
      kind === 'fhir' || kind === 'json'
        ? new JsonScanner({ maxDepth: this.config.max_json_depth, maxValues: this.config.max_json_values })
        : undefined;
    const read = await readBody(req, maxBodyBytes, hold, scanner);
    if ('refused' in read) {
      if (read.refused === 'aborted') {
        return outcomeAnswer(400, operationOutcome(IssueType.Incomplete, 'the body ended early'));
      }
      if (read.refused === 'size') return tooLarge(maxBodyBytes);
      if (read.refused === 'busy') {
        return outcomeAnswer(503, operationOutcome(IssueType.Transient, BUSY), {
          'retry-after': String(this.config.retry_after_seconds),
        });
      }
      return jsonRefusal(read.refused);
    }
    const { body, json } = read;
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
      // Checked while it arrived; nothing parses it here.
      const resourceType = json?.top === 'object' ? json.resourceType : undefined;
      if (resourceType !== undefined && resourceType !== '') contentType = 'fhir';
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

const BUSY = 'the server is receiving too many message bodies at once; send it again later';

function tooLarge(maxBodyBytes: number): HttpAnswer {
  return outcomeAnswer(
    413,
    operationOutcome(
      IssueType.TooLong,
      `the body is larger than the limit of ${maxBodyBytes} bytes (max_body_bytes)`,
    ),
  );
}

/**
 * Once the answer to a request whose body was not read is sent, the connection is half-closed
 * and left alone (nothing more is read) for a moment before it is destroyed: the client gets to
 * read the answer instead of a reset, and the rest of its body costs nothing.
 */
function lingerOnClose(req: IncomingMessage): void {
  // Stop reading the body; what is already buffered stays bounded by the stream's high-water mark.
  req.removeAllListeners('data');
  req.pause();
  // Marks the body as being consumed, so the server does not read it through to discard it.
  req.read(0);
  const socket = req.socket;
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };
}

type BodyRead =
  | { body: Buffer; json: JsonScanResult | undefined }
  | { refused: 'size' | 'busy' | 'aborted' | JsonScanProblem };

/**
 * Reads the body, checking it as it arrives: refused once it grows past `max` bytes, once the
 * bytes held by all requests would pass their budget (`hold`), or once the JSON scanner finds a
 * syntax error or a limit crossed. Reading stops at the refusal; nothing past it is kept.
 */
function readBody(
  req: IncomingMessage,
  max: number,
  hold: (bytes: number) => boolean,
  scanner: JsonScanner | undefined,
): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    const refuse = (why: 'size' | 'busy' | 'aborted' | JsonScanProblem) => {
      cleanup();
      chunks = [];
      req.pause();
      resolve({ refused: why });
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) return refuse('size');
      if (!hold(chunk.length)) return refuse('busy');
      const problem = scanner?.write(chunk);
      if (problem) return refuse(problem);
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      const body = Buffer.concat(chunks, size);
      chunks = [];
      if (!scanner) return resolve({ body, json: undefined });
      const scanned = scanner.end();
      if ('problem' in scanned) return resolve({ refused: scanned.problem });
      resolve({ body, json: scanned.result });
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    // The client went away (or a timeout closed the connection) before the body ended.
    const onClose = () => {
      if (!req.complete) refuse('aborted');
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
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
