import { Controller, Get, Inject, Param, Post, Put, Req, Res, type Provider } from '@nestjs/common';
import {
  smartAllows,
  type AppGate,
  type AppMisuse,
  type AppPrincipal,
  type AppRefusal,
  type SmartInteraction,
} from '@sinew/auth';
import type { FhirResource, HubWriteRouter, HubWriteStatus } from '@sinew/hub';
import type { Request, Response } from 'express';

/** What the write routes need: the router to the channels, and the app registry's gate. */
export interface FhirWriteDeps {
  writes: HubWriteRouter;
  apps: AppGate;
  /** Largest resource accepted, in bytes (default 1 MiB); a larger one is answered 413. */
  maxBodyBytes?: number;
}

export const FHIR_WRITE_DEPS = Symbol('FHIR_WRITE_DEPS');

/** The provider the FHIR module registers next to `FhirWriteController`. */
export function fhirWriteProvider(deps: FhirWriteDeps): Provider {
  return { provide: FHIR_WRITE_DEPS, useValue: deps };
}

/** Where a write's status is read, under the API's base. */
export const WRITE_STATUS_PATH = '/fhir/R4/_write/';

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
/** The ids FHIR allows (R4 `id` datatype). */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const MEDIA_TYPES = new Set(['application/fhir+json', 'application/json']);

interface IssueOut {
  severity: 'error' | 'information';
  code: string;
  diagnostics: string;
}

/** One answer of the write routes: status, headers, and a JSON body (an OperationOutcome, or a write's status). */
export interface WriteAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

function outcome(
  status: number,
  code: string,
  diagnostics: string,
  headers: Record<string, string> = {},
  severity: IssueOut['severity'] = 'error',
): WriteAnswer {
  return {
    status,
    headers: { 'content-type': 'application/fhir+json', ...headers },
    body: { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] },
  };
}

/** A request as the routes read it: the bearer token and, for writes, the body as it came. */
export interface WriteRequest {
  authorization: string | undefined;
  contentType?: string | undefined;
  /** Reads the whole body; `undefined` when it is over the limit. */
  body?: () => Promise<Buffer | unknown | undefined>;
}

/**
 * The FHIR API's writes routed back to the source systems, free of HTTP plumbing: each method
 * takes what a request carried and gives the answer. Every refusal is an OperationOutcome;
 * unauthorised writes and unexpected payloads are reported to the gate as misuse, and every
 * call of an authenticated app is reported as a call.
 */
export class FhirWrites {
  constructor(private readonly deps: FhirWriteDeps) {}

  /** `POST /fhir/R4/{type}` */
  create(type: string, req: WriteRequest): Promise<WriteAnswer> {
    return this.write('create', type, undefined, req);
  }

  /** `PUT /fhir/R4/{type}/{id}` */
  update(type: string, id: string, req: WriteRequest): Promise<WriteAnswer> {
    return this.write('update', type, id, req);
  }

  /** `GET /fhir/R4/_write/{messageId}`: the write's status, to the app that made it only. */
  async status(messageId: string, req: WriteRequest): Promise<WriteAnswer> {
    const path = `_write/${messageId}`;
    const admitted = await this.admit(req, 'GET', path);
    if ('answer' in admitted) return admitted.answer;
    const { app } = admitted;
    const found = /^[A-Za-z0-9-]{1,64}$/.test(messageId)
      ? await this.deps.writes.status(messageId)
      : undefined;
    const answer =
      found && found.appId === app.appId
        ? { status: 200, headers: { 'content-type': 'application/json' }, body: statusBody(found) }
        : outcome(404, 'not-found', `no write ${messageId} of this app`);
    return this.done(app, 'GET', path, answer);
  }

  private async write(
    interaction: 'create' | 'update',
    type: string,
    id: string | undefined,
    req: WriteRequest,
  ): Promise<WriteAnswer> {
    const path = id === undefined ? type : `${type}/${id}`;
    const method = interaction === 'create' ? 'POST' : 'PUT';
    const admitted = await this.admit(req, method, path);
    if ('answer' in admitted) return admitted.answer;
    const { app } = admitted;
    const finish = (answer: WriteAnswer) => this.done(app, method, path, answer);
    const misuse = async (kind: AppMisuse, answer: WriteAnswer) => {
      await this.deps.apps.misuse(app, kind, diagnosticsOf(answer));
      return finish(answer);
    };

    if (!RESOURCE_TYPE.test(type))
      return misuse('unexpected_payload', outcome(400, 'invalid', `${type} is not a FHIR resource type`));
    if (id !== undefined && !FHIR_ID.test(id))
      return misuse('unexpected_payload', outcome(400, 'invalid', 'the id in the URL is not a FHIR id'));
    if (!app.writesEnabled)
      return misuse(
        'unauthorised_write',
        outcome(403, 'forbidden', 'writes are disabled for this app; an administrator can enable them'),
      );
    const scope: SmartInteraction = interaction === 'create' ? 'c' : 'u';
    if (!smartAllows(app.scopes, type, scope))
      return misuse(
        'unauthorised_write',
        outcome(
          403,
          'forbidden',
          `the token has no scope allowing ${interaction} of ${type} (system/${type}.${scope})`,
        ),
      );
    const writable = this.deps.writes.writableTypes(app.environment);
    if (!writable.includes(type))
      return finish(
        outcome(
          404,
          'not-supported',
          `${type} cannot be written here; writable types: ${writable.join(', ') || 'none'}`,
        ),
      );

    const media = (req.contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (!MEDIA_TYPES.has(media))
      return misuse(
        'unexpected_payload',
        outcome(415, 'not-supported', 'send the resource as application/fhir+json'),
      );
    const raw = await req.body?.();
    if (raw === undefined)
      return misuse(
        'unexpected_payload',
        outcome(413, 'too-long', `the body is larger than ${this.deps.maxBodyBytes ?? MAX_BODY_BYTES} bytes`),
      );
    let resource: unknown = raw;
    if (Buffer.isBuffer(raw)) {
      try {
        resource = JSON.parse(raw.toString('utf8'));
      } catch {
        return misuse('unexpected_payload', outcome(400, 'structure', 'the body is not valid JSON'));
      }
    }
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource))
      return misuse(
        'unexpected_payload',
        outcome(400, 'structure', 'the body must be a FHIR resource (a JSON object)'),
      );
    const body = resource as FhirResource;
    if (body.resourceType !== type)
      return misuse(
        'unexpected_payload',
        outcome(
          400,
          'invalid',
          `the resource's resourceType (${typeof body.resourceType === 'string' ? body.resourceType : 'none'}) is not ${type}, the type of the URL`,
        ),
      );
    if (id !== undefined && body.id !== id)
      return misuse(
        'unexpected_payload',
        outcome(400, 'invalid', "an update's resource must carry the id of its URL"),
      );

    const result = await this.deps.writes.submit(body, {
      environment: app.environment,
      interaction,
      appId: app.appId,
    });
    if ('refused' in result) {
      const code = { 400: 'invalid', 404: 'not-supported', 422: 'processing', 503: 'transient' }[
        result.status
      ];
      return finish(
        outcome(result.status, code, result.refused, result.status === 503 ? { 'retry-after': '5' } : {}),
      );
    }
    const location = `${WRITE_STATUS_PATH}${result.messageId}`;
    return finish(
      outcome(
        202,
        'informational',
        `accepted: the ${type} ${interaction} is committed as message ${result.messageId} of channel ${result.channelId}; its outcome is at ${location}`,
        { 'content-location': location },
        'information',
      ),
    );
  }

  /** Authenticates the bearer and takes one request from the app's rate limit. */
  private async admit(
    req: WriteRequest,
    method: string,
    path: string,
  ): Promise<{ app: AppPrincipal } | { answer: WriteAnswer }> {
    const token = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(req.authorization ?? '')?.[1];
    if (!token)
      return {
        answer: outcome(401, 'login', 'an access token is required (Authorization: Bearer <token>)', {
          'www-authenticate': 'Bearer realm="sinew-fhir"',
        }),
      };
    const app = await this.deps.apps.authenticate(token);
    if (!('kind' in app)) return { answer: refusalAnswer(app) };
    const admitted = await this.deps.apps.admit(app);
    if ('code' in admitted) {
      const answer = refusalAnswer(admitted);
      await this.deps.apps.called(app, { method, path, status: answer.status });
      return { answer };
    }
    if (app.endpoints && !app.endpoints.some((e) => path === e || path.startsWith(`${e}/`))) {
      const answer = outcome(403, 'forbidden', `this app is limited to ${app.endpoints.join(', ')}`);
      await this.deps.apps.misuse(app, 'forbidden', diagnosticsOf(answer));
      await this.deps.apps.called(app, { method, path, status: answer.status });
      return { answer };
    }
    return { app };
  }

  private async done(
    app: AppPrincipal,
    method: string,
    path: string,
    answer: WriteAnswer,
  ): Promise<WriteAnswer> {
    await this.deps.apps.called(app, { method, path, status: answer.status });
    return answer;
  }
}

const MAX_BODY_BYTES = 1024 * 1024;

function diagnosticsOf(answer: WriteAnswer): string {
  return (answer.body as { issue: IssueOut[] }).issue[0]?.diagnostics ?? '';
}

function refusalAnswer(refusal: AppRefusal): WriteAnswer {
  switch (refusal.code) {
    case 'token.invalid':
      return outcome(401, 'login', refusal.detail, { 'www-authenticate': 'Bearer error="invalid_token"' });
    case 'rate.limited':
      return outcome(429, 'throttled', refusal.detail, {
        'retry-after': String(Math.max(1, Math.ceil(refusal.retryAfterMs / 1000))),
      });
    default:
      return outcome(403, 'forbidden', refusal.detail);
  }
}

/** The write's status as the API shows it (docs/open-api/writes.md). */
function statusBody(s: HubWriteStatus): Record<string, unknown> {
  return {
    messageId: s.messageId,
    channelId: s.channelId,
    resourceType: s.resourceType,
    state: s.state,
    destinations: s.destinations.map((d) => ({
      name: d.name,
      state: d.state,
      ...(d.ack !== undefined ? { ack: d.ack } : {}),
      ...(d.detail !== undefined ? { detail: d.detail } : {}),
    })),
  };
}

/**
 * The body of an Express request: what a body parser already read (`application/json`), else
 * the bytes read from the stream up to `max` (undefined past it).
 */
function requestBody(req: Request, max: number): () => Promise<Buffer | unknown | undefined> {
  return () => {
    if (req.readableEnded) return Promise.resolve(req.body as unknown);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          req.off('data', onData);
          req.resume();
          resolve(undefined);
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => {
        if (size <= max) resolve(Buffer.concat(chunks, size));
      });
      req.once('error', reject);
    });
  };
}

/**
 * `POST /fhir/R4/{type}`, `PUT /fhir/R4/{type}/{id}` and `GET /fhir/R4/_write/{messageId}`.
 * Registered before the FHIR API's read routes, so that `_write` is not read as a type.
 */
@Controller('fhir/R4')
export class FhirWriteController {
  private readonly writes: FhirWrites;

  constructor(@Inject(FHIR_WRITE_DEPS) private readonly deps: FhirWriteDeps) {
    this.writes = new FhirWrites(deps);
  }

  private request(req: Request, withBody: boolean): WriteRequest {
    return {
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      ...(withBody ? { body: requestBody(req, this.deps.maxBodyBytes ?? MAX_BODY_BYTES) } : {}),
    };
  }

  @Get('_write/:messageId')
  async status(
    @Param('messageId') messageId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    send(res, await guarded(() => this.writes.status(messageId, this.request(req, false))));
  }

  @Post(':type')
  async create(@Param('type') type: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    send(res, await guarded(() => this.writes.create(type, this.request(req, true))));
  }

  @Put(':type/:id')
  async update(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    send(res, await guarded(() => this.writes.update(type, id, this.request(req, true))));
  }
}

/**
 * The answer, or 503 with an OperationOutcome when a service behind it failed (the ledger, the
 * app registry): the client sends the request again later. Nothing about the request is logged.
 */
async function guarded(answer: () => Promise<WriteAnswer>): Promise<WriteAnswer> {
  try {
    return await answer();
  } catch {
    return outcome(503, 'transient', 'the request could not be handled now; send it again later', {
      'retry-after': '5',
    });
  }
}

function send(res: Response, answer: WriteAnswer): void {
  res.status(answer.status);
  for (const [k, v] of Object.entries(answer.headers)) res.setHeader(k, v);
  res.send(Buffer.from(JSON.stringify(answer.body), 'utf8'));
}
