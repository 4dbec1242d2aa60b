import { Controller, Delete, Get, Inject, Post, Req, Res } from '@nestjs/common';
import type { AppGate, AppPrincipal } from '@sinew/auth';
import type { FhirResource } from '@sinew/hub';
import { FhirSubscriptionError, operationOutcome, type SubscriptionService } from '@sinew/webhooks';
import type { Request, Response } from 'express';
import { ApiProblem } from '../api/problem';
import { appOf } from '../api/webhooks.controller';

/** What the FHIR Subscription routes work with. */
export interface FhirSubscriptionDeps {
  subscriptions: SubscriptionService;
  /** Who an app's bearer token is (the app registry). */
  appGate?: AppGate;
}

export const FHIR_SUBSCRIPTION_DEPS = Symbol('FHIR_SUBSCRIPTION_DEPS');

const FHIR_JSON = 'application/fhir+json';
const MAX_BODY = 256 * 1024;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function send(
  res: Response,
  status: number,
  body?: FhirResource,
  headers: Record<string, string> = {},
): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(status);
  if (body === undefined) res.end();
  else res.type(FHIR_JSON).send(JSON.stringify(body));
}

function outcome(res: Response, err: unknown): void {
  if (err instanceof FhirSubscriptionError) return send(res, err.status, operationOutcome(err));
  if (err instanceof ApiProblem) {
    const p = err.problem;
    const code =
      p.status === 401
        ? 'login'
        : p.status === 429
          ? 'throttled'
          : p.status === 403
            ? 'forbidden'
            : 'exception';
    return send(
      res,
      p.status,
      {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code, diagnostics: p.detail ?? p.code }],
      },
      err.headers,
    );
  }
  send(res, 500, {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'exception', diagnostics: 'internal error' }],
  });
}

/** The request's JSON body, whether or not a body parser read it (`application/fhir+json`). */
async function jsonBody(req: Request): Promise<unknown> {
  const parsed = req.body as unknown;
  if (
    parsed !== undefined &&
    !(typeof parsed === 'object' && parsed !== null && Object.keys(parsed).length === 0 && req.readable)
  )
    return parsed;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY)
      throw new FhirSubscriptionError(400, 'invalid', `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '')
    throw new FhirSubscriptionError(400, 'required', 'a Subscription resource is required');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new FhirSubscriptionError(400, 'invalid', 'the body is not JSON');
  }
}

/**
 * FHIR R4 Subscriptions (rest-hook) at `/fhir/R4/Subscription`: create, read, search (the
 * app's own) and delete, for apps with an access token. Notifications go out through the
 * webhooks' dispatcher. Register with a provider of `FHIR_SUBSCRIPTION_DEPS`.
 */
@Controller()
export class SubscriptionController {
  constructor(@Inject(FHIR_SUBSCRIPTION_DEPS) private readonly deps: FhirSubscriptionDeps) {}

  private app(req: Request, res: Response): Promise<AppPrincipal> {
    return appOf(this.deps.appGate, req, res);
  }

  @Post('fhir/R4/Subscription')
  async create(@Req() req: Request, @Res() res: Response): Promise<void> {
    try {
      const app = await this.app(req, res);
      const made = await this.deps.subscriptions.create(app, await jsonBody(req));
      send(res, 201, made, { Location: `Subscription/${made.id as string}` });
    } catch (err) {
      outcome(res, err);
    }
  }

  @Get('fhir/R4/Subscription')
  async search(@Req() req: Request, @Res() res: Response): Promise<void> {
    try {
      const app = await this.app(req, res);
      send(res, 200, await this.deps.subscriptions.search(app));
    } catch (err) {
      outcome(res, err);
    }
  }

  @Get('fhir/R4/Subscription/:id')
  async read(@Req() req: Request, @Res() res: Response): Promise<void> {
    try {
      const app = await this.app(req, res);
      const id = String(req.params.id);
      if (!ID.test(id)) throw new FhirSubscriptionError(404, 'not-found', 'Subscription id is malformed');
      send(res, 200, await this.deps.subscriptions.read(app, id));
    } catch (err) {
      outcome(res, err);
    }
  }

  @Delete('fhir/R4/Subscription/:id')
  async remove(@Req() req: Request, @Res() res: Response): Promise<void> {
    try {
      const app = await this.app(req, res);
      const id = String(req.params.id);
      if (!ID.test(id)) throw new FhirSubscriptionError(404, 'not-found', 'Subscription id is malformed');
      await this.deps.subscriptions.delete(app, id);
      send(res, 204);
    } catch (err) {
      outcome(res, err);
    }
  }
}
