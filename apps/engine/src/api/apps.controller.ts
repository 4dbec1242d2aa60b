import { Controller, HttpCode, Inject, Req, UseGuards } from '@nestjs/common';
import { APP_EVENTS, type AppDetail, type AppInfo } from '@sinew/auth';
import type { Request } from 'express';
import { z } from 'zod';
import { auditEvent } from './audit.controller';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { auditEventJson } from './export-format';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { queryInt } from './schemas';

const appId = z
  .string()
  .regex(/^sna_[0-9a-f]{20}$/, 'an app id: sna_ and 20 hex characters')
  .describe('The app’s id, which is also its OAuth2 client_id');
const idPath = z.strictObject({ id: appId });
const smartScopes = z
  .union([z.string().min(1).max(4000), z.array(z.string().min(1).max(200)).min(1).max(100)])
  .describe('SMART system scopes, space-separated or a list: `system/Patient.rs system/Appointment.cruds`');
const reason = z.string().min(1).max(500);

const appInfo = z.object({
  id: appId,
  name: z.string(),
  contact: z.string().optional(),
  environment: z.enum(['sandbox', 'production']),
  requested_scopes: z.array(z.string()),
  approved_scopes: z.array(z.string()),
  events: z.array(z.string()),
  grant_reason: z.string().optional().describe('Why the scopes were granted'),
  state: z.enum(['pending', 'active', 'paused', 'suspended', 'revoked']),
  state_reason: z.string().optional().describe('Why it is suspended or revoked'),
  writes_enabled: z.boolean(),
  endpoints: z.array(z.string()).optional().describe('Path prefixes under /fhir/R4 it is limited to'),
  rate_limit: z.number().int().describe('Requests per minute'),
  throttled_until: z.string().optional().describe('Its rate is lowered until then (misuse)'),
  auth: z.array(z.enum(['client_secret', 'private_key_jwt'])),
  touches: z
    .array(z.object({ resource_type: z.string(), read: z.boolean(), write: z.boolean() }))
    .describe('Read and write per resource type, from the approved scopes'),
  created_at: z.string(),
  created_by: z.string().optional(),
  approved_at: z.string().optional(),
  approved_by: z.string().optional(),
  last_call_at: z.string().optional(),
});
const appDetail = appInfo.extend({
  calls_per_day: z.array(z.object({ day: z.string(), calls: z.number().int() })),
  misuse: z.array(z.object({ at: z.string(), kind: z.string(), detail: z.string() })),
});
type AppJson = z.output<typeof appInfo>;

function appOut(a: AppInfo): AppJson {
  const out: AppJson = {
    id: a.id,
    name: a.name,
    environment: a.environment,
    requested_scopes: a.requestedScopes,
    approved_scopes: a.approvedScopes,
    events: a.events,
    state: a.state,
    writes_enabled: a.writesEnabled,
    rate_limit: a.rateLimit,
    auth: a.auth,
    touches: a.touches.map((t) => ({ resource_type: t.resourceType, read: t.read, write: t.write })),
    created_at: a.createdAt.toISOString(),
  };
  if (a.contact !== undefined) out.contact = a.contact;
  if (a.grantReason !== undefined) out.grant_reason = a.grantReason;
  if (a.stateReason !== undefined) out.state_reason = a.stateReason;
  if (a.endpoints) out.endpoints = a.endpoints;
  if (a.throttledUntil) out.throttled_until = a.throttledUntil.toISOString();
  if (a.createdBy !== undefined) out.created_by = a.createdBy;
  if (a.approvedAt) out.approved_at = a.approvedAt.toISOString();
  if (a.approvedBy !== undefined) out.approved_by = a.approvedBy;
  if (a.lastCallAt) out.last_call_at = a.lastCallAt.toISOString();
  return out;
}

function detailOut(a: AppDetail): z.output<typeof appDetail> {
  return {
    ...appOut(a),
    calls_per_day: a.callsPerDay,
    misuse: a.misuse.map((m) => ({ at: m.at.toISOString(), kind: m.kind, detail: m.detail })),
  };
}

const createBody = z.strictObject({
  name: z.string().min(1).max(100),
  scopes: smartScopes,
  environment: z.enum(['sandbox', 'production']).optional().describe('Default sandbox'),
  events: z.array(z.enum(APP_EVENTS)).max(APP_EVENTS.length).optional(),
  contact: z.string().min(1).max(200).optional(),
  reason: reason.optional().describe('Why it is granted'),
  jwks: z
    .string()
    .min(1)
    .max(65_536)
    .optional()
    .describe(
      'A public JWK, a JWKS or a PEM public key: the app authenticates by private_key_jwt and gets no secret',
    ),
  approve: z.boolean().optional().describe('Approve every requested scope now'),
  rate_limit: z.number().int().min(1).max(1_000_000).optional().describe('Requests per minute'),
});
const approveBody = z.strictObject({
  scopes: smartScopes.optional().describe('Default: every requested scope'),
  reason: reason.describe('Why they are granted (shown in the console)'),
});
const scopesBody = z
  .strictObject({ requested: smartScopes.optional(), approved: smartScopes.optional() })
  .refine((b) => b.requested !== undefined || b.approved !== undefined, 'give requested and/or approved');
const revokeBody = z.strictObject({ reason: reason.optional() });
const writesBody = z.strictObject({ enabled: z.boolean() });
const endpointsBody = z.strictObject({
  endpoints: z.array(z.string().min(1).max(100)).max(50).nullable().describe('null or []: no limit'),
});
const rateBody = z.strictObject({
  per_minute: z.number().int().min(1).max(1_000_000).nullable().describe('null: the default'),
});
const jwksBody = z.strictObject({ jwks: z.string().min(1).max(65_536).nullable() });
const withSecret = z.object({
  app: appInfo,
  client_secret: z.string().optional().describe('Shown once'),
});
const callsQuery = z.strictObject({
  limit: queryInt(1, 1000).optional().describe('Page size (default 100)'),
  cursor: z.string().max(200).optional(),
});

/** The registry of apps of the FHIR API (admin), and an app's own call log (the app's token). */
@Controller()
@UseGuards(ApiGuard)
export class AppsController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/apps',
    operationId: 'listApps',
    summary: 'Apps registered for the FHIR API (never their secrets)',
    tag: 'Apps',
    scope: 'admin',
    response: z.object({ items: z.array(appInfo) }),
  })
  async list() {
    return { items: (await this.deps.apps.listApps()).map(appOut) };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/apps',
    operationId: 'createApp',
    summary: 'Register an app (its secret is in this answer only)',
    description:
      'The app starts pending (no token) until an admin approves its scopes, unless `approve` is true. With `jwks` it authenticates by private_key_jwt only.',
    tag: 'Apps',
    scope: 'admin',
    status: 201,
    body: createBody,
    response: z.object({ client_id: appId, client_secret: z.string().optional(), app: appInfo }),
    errors: [409],
  })
  async create(@Input('body') b: z.output<typeof createBody>, @Ctx() c: ApiContext) {
    const by = c.principal?.name ?? 'api';
    const created = await this.deps.apps.createApp({
      name: b.name,
      scopes: b.scopes,
      ...(b.environment ? { environment: b.environment } : {}),
      ...(b.events ? { events: b.events } : {}),
      ...(b.contact !== undefined ? { contact: b.contact } : {}),
      ...(b.reason !== undefined ? { reason: b.reason } : {}),
      ...(b.jwks !== undefined ? { jwks: b.jwks } : {}),
      ...(b.approve !== undefined ? { approve: b.approve } : {}),
      ...(b.rate_limit !== undefined ? { rateLimit: b.rate_limit } : {}),
      createdBy: by,
    });
    c.objectIds.push(created.clientId);
    return {
      client_id: created.clientId,
      ...(created.clientSecret !== undefined ? { client_secret: created.clientSecret } : {}),
      app: appOut(created.app),
    };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/apps/{id}',
    operationId: 'getApp',
    summary: 'An app: what it touches, its last call, its calls per day and its misuse',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    response: appDetail,
    errors: [404],
  })
  async get(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    const app = await this.deps.apps.getApp(p.id);
    if (!app)
      throw new ApiProblem({ status: 404, code: 'app.not_found', detail: `app ${p.id} does not exist` });
    c.objectIds.push(p.id);
    return detailOut(app);
  }

  private async act(id: string, c: ApiContext, act: () => Promise<AppInfo>): Promise<AppJson> {
    c.objectIds.push(id);
    return appOut(await act());
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/apps/{id}/approve',
    operationId: 'approveApp',
    summary: 'Approve scopes (all requested, or some) with the reason they are granted',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    body: approveBody,
    response: appInfo,
    errors: [404, 409],
  })
  @HttpCode(200)
  approve(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof approveBody>,
    @Ctx() c: ApiContext,
  ) {
    const by = c.principal?.name ?? 'api';
    return this.act(p.id, c, () =>
      this.deps.apps.approve(p.id, {
        ...(b.scopes !== undefined ? { scopes: b.scopes } : {}),
        reason: b.reason,
        by,
      }),
    );
  }

  @ApiRoute({
    method: 'PUT',
    path: '/api/v1/apps/{id}/scopes',
    operationId: 'setAppScopes',
    summary: 'Change the requested and/or approved scopes (effective on the next request)',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    body: scopesBody,
    response: appInfo,
    errors: [404, 409],
  })
  setScopes(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof scopesBody>,
    @Ctx() c: ApiContext,
  ) {
    return this.act(p.id, c, () =>
      this.deps.apps.setScopes(p.id, {
        ...(b.requested !== undefined ? { requested: b.requested } : {}),
        ...(b.approved !== undefined ? { approved: b.approved } : {}),
      }),
    );
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/apps/{id}/pause',
    operationId: 'pauseApp',
    summary: 'Pause an app (its tokens refused from the next request until resumed)',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    response: appInfo,
    errors: [404, 409],
  })
  @HttpCode(200)
  pause(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.act(p.id, c, () => this.deps.apps.pause(p.id));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/apps/{id}/resume',
    operationId: 'resumeApp',
    summary: 'Resume a paused app',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    response: appInfo,
    errors: [404, 409],
  })
  @HttpCode(200)
  resume(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.act(p.id, c, () => this.deps.apps.resume(p.id));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/apps/{id}/revoke',
    operationId: 'revokeApp',
    summary: 'Revoke an app for good',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    body: revokeBody,
    response: appInfo,
    errors: [404],
  })
  @HttpCode(200)
  revoke(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof revokeBody>,
    @Ctx() c: ApiContext,
  ) {
    return this.act(p.id, c, () => this.deps.apps.revoke(p.id, b.reason));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/apps/{id}/reinstate',
    operationId: 'reinstateApp',
    summary: 'Reinstate an app suspended for misuse',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    response: appInfo,
    errors: [404, 409],
  })
  @HttpCode(200)
  reinstate(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.act(p.id, c, () => this.deps.apps.reinstate(p.id));
  }

  @ApiRoute({
    method: 'PUT',
    path: '/api/v1/apps/{id}/writes',
    operationId: 'setAppWrites',
    summary: 'Enable or disable every write of an app',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    body: writesBody,
    response: appInfo,
    errors: [404],
  })
  writes(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof writesBody>,
    @Ctx() c: ApiContext,
  ) {
    return this.act(p.id, c, () => this.deps.apps.setWrites(p.id, b.enabled));
  }

  @ApiRoute({
    method: 'PUT',
    path: '/api/v1/apps/{id}/endpoints',
    operationId: 'setAppEndpoints',
    summary: 'Limit an app to path prefixes under /fhir/R4 (null: no limit)',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    body: endpointsBody,
    response: appInfo,
    errors: [404],
  })
  endpoints(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof endpointsBody>,
    @Ctx() c: ApiContext,
  ) {
    return this.act(p.id, c, () => this.deps.apps.setEndpoints(p.id, b.endpoints));
  }

  @ApiRoute({
    method: 'PUT',
    path: '/api/v1/apps/{id}/rate-limit',
    operationId: 'setAppRateLimit',
    summary: 'Set an app’s requests per minute (null: the default)',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    body: rateBody,
    response: appInfo,
    errors: [404],
  })
  rate(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof rateBody>,
    @Ctx() c: ApiContext,
  ) {
    return this.act(p.id, c, () => this.deps.apps.setRateLimit(p.id, b.per_minute));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/apps/{id}/promote',
    operationId: 'promoteApp',
    summary: 'Promote a sandbox app to production (a secret app gets a new secret, shown once)',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    response: withSecret,
    errors: [404, 409],
  })
  @HttpCode(200)
  async promote(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    c.objectIds.push(p.id);
    const r = await this.deps.apps.promote(p.id);
    return { app: appOut(r.app), ...(r.clientSecret !== undefined ? { client_secret: r.clientSecret } : {}) };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/apps/{id}/secret',
    operationId: 'rotateAppSecret',
    summary: 'Give an app a new client secret (the old one stops working; shown once)',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    response: withSecret,
    errors: [404, 409],
  })
  @HttpCode(200)
  async rotate(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    c.objectIds.push(p.id);
    const r = await this.deps.apps.rotateSecret(p.id);
    return { app: appOut(r.app), client_secret: r.clientSecret };
  }

  @ApiRoute({
    method: 'PUT',
    path: '/api/v1/apps/{id}/jwks',
    operationId: 'setAppJwks',
    summary: 'Set an app’s public keys for private_key_jwt (null removes them)',
    tag: 'Apps',
    scope: 'admin',
    params: idPath,
    body: jwksBody,
    response: appInfo,
    errors: [404, 409],
  })
  jwks(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof jwksBody>,
    @Ctx() c: ApiContext,
  ) {
    return this.act(p.id, c, () => this.deps.apps.setJwks(p.id, b.jwks));
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/app/calls',
    operationId: 'listOwnAppCalls',
    summary: 'An app’s own calls, newest first (with the app’s access token)',
    description:
      'Authenticated by the app’s FHIR API access token (`Authorization: Bearer`), not an admin credential. The audit entries of its calls: `fhir.<interaction>`, the resource ids returned, the status.',
    tag: 'Apps',
    scope: 'public',
    query: callsQuery,
    response: z.object({ items: z.array(auditEvent), next_cursor: z.string().nullable() }),
  })
  async ownCalls(@Req() req: Request, @Input('query') q: z.output<typeof callsQuery>, @Ctx() c: ApiContext) {
    const m = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(req.headers.authorization ?? '');
    const challenge = { 'WWW-Authenticate': 'Bearer realm="sinew-fhir"' };
    if (!m)
      throw new ApiProblem(
        { status: 401, code: 'auth.missing', detail: 'the app’s access token is required' },
        challenge,
      );
    const who = await this.deps.apps.authenticate(m[1] as string);
    if (!('kind' in who))
      throw new ApiProblem({ status: 401, code: 'auth.invalid', detail: who.detail }, challenge);
    c.principal = { kind: 'client', id: who.appId, name: who.name, scopes: [], via: who.appId };
    let page: Awaited<ReturnType<ApiDeps['apps']['calls']>>;
    try {
      page = await this.deps.apps.calls(who.appId, {
        ...(q.limit ? { limit: q.limit } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'access.invalid')
        throw new ApiProblem({
          status: 400,
          code: 'request.invalid',
          detail: 'invalid query',
          invalid_params: [{ name: 'query.cursor', reason: (err as Error).message }],
        });
      throw err;
    }
    return { items: page.items.map(auditEventJson), next_cursor: page.nextCursor ?? null };
  }
}
