import { Controller, Delete, Get, HttpCode, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { AppGate, AppPrincipal, AppRefusal } from '@sinew/auth';
import {
  WEBHOOK_EVENTS,
  WebhookRequestError,
  subscriptionView,
  type AttemptRecord,
  type DeliveryView,
  type SubscriptionService,
  type SubscriptionView,
  type WebhookService,
} from '@sinew/webhooks';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { apiContext, type ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem, invalidParams } from './problem';
import { ApiRoute, type RouteSpec } from './route';
import { idParam } from './schemas';

/** What the webhooks' routes work with (`ApiDeps.webhooks`). */
export interface WebhooksApiDeps {
  service: WebhookService;
  /** FHIR R4 Subscriptions (`/fhir/R4/Subscription`). */
  subscriptions: SubscriptionService;
  /** Who an app's bearer token is (the app registry); without it the app routes answer 503. */
  appGate?: AppGate;
}

const TAG = 'Webhooks';
const BEARER = /^Bearer ([\x21-\x7e]{1,4096})$/;
const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="sinew"' };

function isRefusal(x: AppPrincipal | AppRefusal | { allowed: true; remaining: number }): x is AppRefusal {
  return 'code' in x;
}

/** An app's refusal by the gate as the status and problem it answers. */
export function refusalProblem(r: AppRefusal): ApiProblem {
  if (r.code === 'token.invalid')
    return new ApiProblem({ status: 401, code: 'auth.invalid', detail: r.detail }, CHALLENGE);
  if (r.code === 'rate.limited')
    return new ApiProblem(
      { status: 429, code: 'rate.limited', detail: r.detail },
      { 'Retry-After': String(Math.max(1, Math.ceil(r.retryAfterMs / 1000))) },
    );
  return new ApiProblem({ status: 403, code: r.code, detail: r.detail });
}

/**
 * The app behind a request's bearer token, admitted by its rate limit; its call is recorded
 * with the gate once the answer is sent.
 */
export async function appOf(
  gate: AppGate | undefined,
  req: Request,
  res: Response,
  errors: (p: ApiProblem) => ApiProblem = (p) => p,
): Promise<AppPrincipal> {
  if (!gate)
    throw errors(
      new ApiProblem({ status: 503, code: 'apps.unavailable', detail: 'the app registry is not running' }),
    );
  const m = BEARER.exec(req.headers.authorization ?? '');
  if (!m)
    throw errors(
      new ApiProblem(
        {
          status: 401,
          code: req.headers.authorization ? 'auth.malformed' : 'auth.missing',
          detail: 'expected Authorization: Bearer <app access token>',
        },
        CHALLENGE,
      ),
    );
  const who = await gate.authenticate(m[1] as string);
  if (isRefusal(who)) throw errors(refusalProblem(who));
  const admitted = await gate.admit(who);
  if (isRefusal(admitted)) throw errors(refusalProblem(admitted));
  res.on('finish', () => {
    const c = apiContext(req);
    void gate
      .called(who, {
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ...(c.objectIds.length > 0 ? { objectIds: [...new Set(c.objectIds)] } : {}),
        ...(req.ip ? { remoteAddress: req.ip } : {}),
      })
      .catch(() => undefined);
  });
  return who;
}

/** A webhooks error as the API's problem. */
export function webhookProblem(err: unknown): never {
  if (err instanceof WebhookRequestError)
    throw new ApiProblem({ status: err.status, code: err.code, detail: err.message });
  throw err;
}

const createBody = z.strictObject({
  url: z
    .string()
    .min(1)
    .max(2000)
    .describe('https (http only to a loopback address, or when the engine allows it)'),
  events: z
    .array(z.enum(WEBHOOK_EVENTS as unknown as [string, ...string[]]))
    .min(1)
    .max(WEBHOOK_EVENTS.length),
  payload: z
    .enum(['resource', 'reference'])
    .default('resource')
    .describe('resource: the FHIR resource; reference: only Type/id (always so without the read scope)'),
  description: z.string().max(500).optional(),
});
const deliveriesQuery = z.strictObject({
  status: z.enum(['pending', 'delivered', 'dead']).optional(),
  subscription: idParam.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: idParam.optional().describe('The last id of the previous page'),
});
const adminDeliveriesQuery = deliveriesQuery.extend({
  status: z.enum(['pending', 'delivered', 'dead', 'withheld']).optional(),
});

function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const r = schema.safeParse(value ?? {});
  if (!r.success)
    throw new ApiProblem({
      status: 400,
      code: 'request.invalid',
      detail: `invalid ${where}`,
      invalid_params: invalidParams(where, r.error),
    });
  return r.data;
}

/** Marks the request's operation for the audit log (these routes are not the admin API's own). */
function operation(req: Request, method: RouteSpec['method'], path: string, operationId: string): ApiContext {
  const c = apiContext(req);
  c.spec = {
    method,
    path,
    operationId,
    summary: operationId,
    tag: TAG,
    scope: 'authenticated',
    response: z.unknown(),
  };
  return c;
}

/**
 * Apps manage their own webhook subscriptions with their access token (`AppGate`), and read
 * their own delivery log. These routes are outside the admin API's keys and scopes.
 */
@Controller()
export class AppWebhooksController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  private get webhooks(): WebhooksApiDeps {
    const w = this.deps.webhooks;
    if (!w)
      throw new ApiProblem({ status: 503, code: 'webhooks.unavailable', detail: 'webhooks are not running' });
    return w;
  }

  private app(req: Request, res: Response): Promise<AppPrincipal> {
    return appOf(this.deps.webhooks?.appGate, req, res);
  }

  @Post('api/v1/app/webhooks')
  @HttpCode(201)
  async create(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SubscriptionView & { secret: string }> {
    operation(req, 'POST', '/api/v1/app/webhooks', 'createAppWebhook');
    const app = await this.app(req, res);
    const body = parse(createBody, req.body, 'body');
    const made = await this.webhooks.service
      .create(app, {
        url: body.url,
        events: body.events,
        payload: body.payload,
        ...(body.description ? { description: body.description } : {}),
      })
      .catch(webhookProblem);
    apiContext(req).objectIds.push(made.subscription.id);
    res.setHeader('Cache-Control', 'no-store');
    return { ...made.subscription, secret: made.secret };
  }

  @Get('api/v1/app/webhooks')
  async list(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ items: SubscriptionView[] }> {
    operation(req, 'GET', '/api/v1/app/webhooks', 'listAppWebhooks');
    const app = await this.app(req, res);
    return { items: await this.webhooks.service.list(app) };
  }

  @Delete('api/v1/app/webhooks/:id')
  @HttpCode(204)
  async remove(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<void> {
    operation(req, 'DELETE', '/api/v1/app/webhooks/{id}', 'deleteAppWebhook');
    const app = await this.app(req, res);
    const id = parse(idParam, req.params.id, 'path');
    apiContext(req).objectIds.push(id);
    await this.webhooks.service.remove(app.appId, id).catch(webhookProblem);
  }

  @Post('api/v1/app/webhooks/:id/rotate-secret')
  @HttpCode(200)
  async rotate(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SubscriptionView & { secret: string }> {
    operation(req, 'POST', '/api/v1/app/webhooks/{id}/rotate-secret', 'rotateAppWebhookSecret');
    const app = await this.app(req, res);
    const id = parse(idParam, req.params.id, 'path');
    apiContext(req).objectIds.push(id);
    const made = await this.webhooks.service.rotateSecret(app.appId, id).catch(webhookProblem);
    res.setHeader('Cache-Control', 'no-store');
    return { ...made.subscription, secret: made.secret };
  }

  @Get('api/v1/app/webhook-deliveries')
  async deliveries(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ items: DeliveryView[] }> {
    operation(req, 'GET', '/api/v1/app/webhook-deliveries', 'listAppWebhookDeliveries');
    const app = await this.app(req, res);
    const q = parse(deliveriesQuery, req.query, 'query');
    const items = await this.webhooks.service.deliveries({
      appId: app.appId,
      hideWithheld: true,
      limit: q.limit,
      ...(q.status ? { status: q.status } : {}),
      ...(q.subscription ? { subscriptionId: q.subscription } : {}),
      ...(q.before ? { before: q.before } : {}),
    });
    return { items };
  }

  @Get('api/v1/app/webhook-deliveries/:id')
  async delivery(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<
    DeliveryView & { attemptLog: Array<Omit<AttemptRecord, 'deliveryId' | 'at'> & { at: string }> }
  > {
    operation(req, 'GET', '/api/v1/app/webhook-deliveries/{id}', 'getAppWebhookDelivery');
    const app = await this.app(req, res);
    const id = parse(idParam, req.params.id, 'path');
    apiContext(req).objectIds.push(id);
    const { delivery, attempts } = await this.webhooks.service
      .delivery(app.appId, id, { hideWithheld: true })
      .catch(webhookProblem);
    return {
      ...delivery,
      attemptLog: attempts.map((a) => ({
        number: a.number,
        at: a.at.toISOString(),
        outcome: a.outcome,
        responseCode: a.responseCode,
        error: a.error,
        latencyMs: a.latencyMs,
      })),
    };
  }

  @Post('api/v1/app/webhook-deliveries/:id/replay')
  @HttpCode(202)
  async replay(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<DeliveryView> {
    operation(req, 'POST', '/api/v1/app/webhook-deliveries/{id}/replay', 'replayAppWebhookDelivery');
    const app = await this.app(req, res);
    const id = parse(idParam, req.params.id, 'path');
    apiContext(req).objectIds.push(id);
    return this.webhooks.service.replay(app.appId, id, { hideWithheld: true }).catch(webhookProblem);
  }
}

const appParams = z.strictObject({ appId: idParam });
const deliveryParams = z.strictObject({ appId: idParam, id: idParam });
const subscriptionJson = z.object({
  id: z.string(),
  appId: z.string(),
  kind: z.enum(['webhook', 'fhir']),
  environment: z.enum(['production', 'sandbox']),
  url: z.string(),
  events: z.array(z.string()),
  payload: z.string(),
  effectivePayload: z.record(z.string(), z.string()).optional(),
  criteria: z.string().optional(),
  description: z.string().optional(),
  status: z.enum(['active', 'off']),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const deliveryJson = z.object({
  id: z.string(),
  subscriptionId: z.string(),
  appId: z.string(),
  eventId: z.string().describe('The webhook-id header of every attempt'),
  eventType: z.string(),
  status: z.enum(['pending', 'delivered', 'dead', 'withheld']),
  attempts: z.number().int(),
  responseCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  latencyMs: z.number().int().nullable(),
  nextAttemptAt: z.string().nullable(),
  replayOf: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** Admins see every app's subscriptions (never their secrets), deliveries and dead letters, and replay them. */
@Controller()
@UseGuards(ApiGuard)
export class WebhooksAdminController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  private get service(): WebhookService {
    const w = this.deps.webhooks;
    if (!w)
      throw new ApiProblem({ status: 503, code: 'webhooks.unavailable', detail: 'webhooks are not running' });
    return w.service;
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/apps/{appId}/webhooks',
    operationId: 'listWebhooksOfApp',
    summary: "An app's webhook subscriptions and FHIR Subscriptions (without their secrets)",
    tag: TAG,
    scope: 'admin',
    params: appParams,
    response: z.object({ items: z.array(subscriptionJson) }),
  })
  async subscriptions(
    @Input('params') p: z.output<typeof appParams>,
    @Ctx() c: ApiContext,
  ): Promise<{ items: SubscriptionView[] }> {
    c.objectIds.push(p.appId);
    const subs = await this.service.store.listSubscriptions({ appId: p.appId });
    return { items: subs.map(subscriptionView) };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/apps/{appId}/webhook-deliveries',
    operationId: 'listWebhookDeliveriesOfApp',
    summary: "An app's webhook delivery log, newest first (withheld deliveries included)",
    tag: TAG,
    scope: 'admin',
    params: appParams,
    query: adminDeliveriesQuery,
    response: z.object({ items: z.array(deliveryJson) }),
  })
  async deliveries(
    @Input('params') p: z.output<typeof appParams>,
    @Input('query') q: z.output<typeof adminDeliveriesQuery>,
    @Ctx() c: ApiContext,
  ): Promise<{ items: DeliveryView[] }> {
    c.objectIds.push(p.appId);
    const items = await this.service.deliveries({
      appId: p.appId,
      limit: q.limit,
      ...(q.status ? { status: q.status } : {}),
      ...(q.subscription ? { subscriptionId: q.subscription } : {}),
      ...(q.before ? { before: q.before } : {}),
    });
    return { items };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/apps/{appId}/webhook-dead-letters',
    operationId: 'listWebhookDeadLettersOfApp',
    summary: "An app's dead-lettered webhook deliveries (given up; replayable)",
    tag: TAG,
    scope: 'admin',
    params: appParams,
    query: z.strictObject({
      limit: z.coerce.number().int().min(1).max(500).default(100),
      before: idParam.optional(),
    }),
    response: z.object({ items: z.array(deliveryJson) }),
  })
  async deadLetters(
    @Input('params') p: z.output<typeof appParams>,
    @Input('query') q: { limit: number; before?: string },
    @Ctx() c: ApiContext,
  ): Promise<{ items: DeliveryView[] }> {
    c.objectIds.push(p.appId);
    return {
      items: await this.service.deliveries({
        appId: p.appId,
        status: 'dead',
        limit: q.limit,
        ...(q.before ? { before: q.before } : {}),
      }),
    };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/apps/{appId}/webhook-deliveries/{id}/replay',
    operationId: 'replayWebhookDeliveryOfApp',
    summary: 'Sends a delivery again (same webhook-id and body), as a new delivery',
    tag: TAG,
    scope: 'admin',
    params: deliveryParams,
    status: 202,
    errors: [404, 409],
    response: deliveryJson,
  })
  @HttpCode(202)
  async replay(
    @Input('params') p: z.output<typeof deliveryParams>,
    @Ctx() c: ApiContext,
  ): Promise<DeliveryView> {
    c.objectIds.push(p.appId, p.id);
    return this.service.replay(p.appId, p.id).catch(webhookProblem);
  }
}
