import { Controller, HttpCode, Inject, Res, UseGuards } from '@nestjs/common';
import {
  isAppClientId,
  OAuthError,
  tokenRequestClient,
  type ClientInfo,
  type TokenRequest,
} from '@sinew/auth';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { TOKEN_PATH } from './problem';
import { ApiRoute } from './route';
import { idParam, scopeSchema } from './schemas';

const field = z.string().max(8192);
const tokenBody = z.strictObject({
  grant_type: field.describe('`client_credentials`'),
  scope: field.optional().describe('Space-separated scopes, a subset of the client’s (default: all of them)'),
  client_id: field.optional(),
  client_secret: field.optional().describe('client_secret_post (or send the id and secret as HTTP Basic)'),
  client_assertion_type: field
    .optional()
    .describe('private_key_jwt: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`'),
  client_assertion: field.optional().describe('private_key_jwt: a JWT signed by the client’s key (RFC 7523)'),
});

const tokenAnswer = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
  scope: z.string(),
});

const clientInfo = z.object({
  id: z.string().describe('The client_id'),
  name: z.string(),
  scopes: z.array(scopeSchema),
  channels: z.array(z.string()).optional().describe('Absent: every channel'),
  auth: z.enum(['client_secret', 'private_key_jwt']),
  state: z.enum(['active', 'paused', 'revoked']),
  created_at: z.string(),
  created_by: z.string().optional(),
  last_used_at: z.string().optional(),
  last_used_from: z.string().optional(),
});

const createClientBody = z.strictObject({
  name: z.string().min(1).max(100),
  scopes: z.array(scopeSchema).min(1),
  channels: z.array(idParam).min(1).max(200).optional(),
  public_key: z
    .string()
    .min(1)
    .max(16_384)
    .optional()
    .describe('A public JWK (JSON) or PEM: the client authenticates by private_key_jwt and has no secret'),
});

const idPath = z.strictObject({ id: idParam });

function clientOut(c: ClientInfo): z.output<typeof clientInfo> {
  const out: z.output<typeof clientInfo> = {
    id: c.id,
    name: c.name,
    scopes: c.scopes,
    auth: c.auth,
    state: c.state,
    created_at: c.createdAt.toISOString(),
  };
  if (c.channels) out.channels = c.channels;
  if (c.createdBy) out.created_by = c.createdBy;
  if (c.lastUsedAt) out.last_used_at = c.lastUsedAt.toISOString();
  if (c.lastUsedFrom) out.last_used_from = c.lastUsedFrom;
  return out;
}

/** `Authorization: Basic` client credentials (RFC 6749 §2.3.1: each part form-encoded). */
function basicCredentials(header: string | undefined): TokenRequest['basic'] {
  if (header === undefined) return undefined;
  const m = /^Basic ([A-Za-z0-9+/=]{1,4096})$/.exec(header);
  if (!m) throw new OAuthError('invalid_client', 'expected Authorization: Basic <client_id:client_secret>');
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw new OAuthError('invalid_client', 'the Basic credentials need client_id:client_secret');
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      throw new OAuthError('invalid_client', 'the Basic credentials are not form-encoded');
    }
  };
  return { clientId: decode(text.slice(0, colon)), clientSecret: decode(text.slice(colon + 1)) };
}

/**
 * The OAuth2 token endpoint (client credentials grant) and the registry of clients. Errors of
 * `POST /oauth/token` are RFC 6749 JSON (`{ error, error_description }`), not problems.
 */
@Controller()
@UseGuards(ApiGuard)
export class OAuthController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  /** What a client assertion's `aud` may be: the configured public URL's token endpoint, else the one the request reached. */
  private audiences(req: Request): string[] {
    const issuer = this.deps.oauthIssuer?.replace(/\/+$/, '');
    if (issuer) return [`${issuer}${TOKEN_PATH}`, issuer];
    const host = req.get('host');
    return host ? [`${req.protocol}://${host}${TOKEN_PATH}`] : [];
  }

  @ApiRoute({
    method: 'POST',
    path: TOKEN_PATH,
    operationId: 'issueToken',
    summary: 'Get an access token (OAuth2 client credentials grant)',
    description:
      'Form-encoded (`application/x-www-form-urlencoded`). Serves OAuth2 clients of the admin API (`snc_…`, scopes of the admin API, token lifetime SINEW_OAUTH_TOKEN_TTL_S) and registered apps of the FHIR API (`sna_…`, SMART scopes such as `system/Patient.rs`, only approved ones granted, 5-minute tokens). The client authenticates by HTTP Basic (client_secret_basic), by client_id and client_secret in the form (client_secret_post), or by a signed assertion (private_key_jwt, RFC 7523: `aud` is this endpoint’s URL, `exp` at most 10 minutes away, a `jti` used once). Errors are RFC 6749 JSON `{ error, error_description }`: 400 invalid_request, invalid_scope, unsupported_grant_type; 401 invalid_client.',
    tag: 'OAuth',
    scope: 'public',
    body: tokenBody,
    consumes: 'application/x-www-form-urlencoded',
    response: tokenAnswer,
    errors: [401],
  })
  @HttpCode(200)
  async issueToken(
    @Input('body') b: z.output<typeof tokenBody>,
    @Ctx() c: ApiContext,
    @Res({ passthrough: true }) res: Response,
  ): Promise<z.output<typeof tokenAnswer>> {
    const req = res.req;
    if (!req.is('application/x-www-form-urlencoded'))
      throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
    const basic = basicCredentials(req.headers.authorization);
    const request: TokenRequest = {
      grantType: b.grant_type,
      ...(b.scope !== undefined ? { scope: b.scope } : {}),
      ...(b.client_id !== undefined ? { clientId: b.client_id } : {}),
      ...(b.client_secret !== undefined ? { clientSecret: b.client_secret } : {}),
      ...(b.client_assertion_type !== undefined ? { clientAssertionType: b.client_assertion_type } : {}),
      ...(b.client_assertion !== undefined ? { clientAssertion: b.client_assertion } : {}),
      ...(basic ? { basic } : {}),
      audiences: this.audiences(req),
      ...(req.ip ? { from: req.ip } : {}),
    };
    // Registered apps (`sna_…`) get FHIR API tokens with SMART scopes; other clients admin API ones.
    const answer = isAppClientId(tokenRequestClient(request))
      ? await this.deps.apps.issueToken(request)
      : await this.deps.access.issueToken(request);
    c.principal = answer.principal;
    c.objectIds.push(answer.principal.id);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    return {
      access_token: answer.access_token,
      token_type: answer.token_type,
      expires_in: answer.expires_in,
      scope: answer.scope,
    };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/clients',
    operationId: 'listClients',
    summary: 'OAuth2 clients (never their secrets)',
    tag: 'Access',
    scope: 'admin',
    response: z.object({ items: z.array(clientInfo) }),
  })
  async listClients(): Promise<{ items: Array<z.output<typeof clientInfo>> }> {
    return { items: (await this.deps.access.listClients()).map(clientOut) };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/clients',
    operationId: 'createClient',
    summary: 'Register an OAuth2 client (a secret client’s secret is in this answer only)',
    tag: 'Access',
    scope: 'admin',
    status: 201,
    body: createClientBody,
    response: z.object({
      client_id: z.string(),
      client_secret: z.string().optional().describe('Shown once; absent for a private_key_jwt client'),
    }),
  })
  async createClient(
    @Input('body') b: z.output<typeof createClientBody>,
    @Ctx() c: ApiContext,
  ): Promise<{ client_id: string; client_secret?: string }> {
    const created = await this.deps.access.createClient({
      name: b.name,
      scopes: b.scopes,
      ...(b.channels ? { channels: b.channels } : {}),
      ...(b.public_key ? { publicKey: b.public_key } : {}),
      createdBy: c.principal?.name ?? 'api',
    });
    c.objectIds.push(created.id);
    return { client_id: created.id, ...(created.secret ? { client_secret: created.secret } : {}) };
  }

  private async act(id: string, c: ApiContext, act: (id: string) => Promise<void>) {
    await act(id);
    c.objectIds.push(id);
    return clientOut((await this.deps.access.getClient(id)) as ClientInfo);
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/clients/{id}/revoke',
    operationId: 'revokeClient',
    summary: 'Revoke an OAuth2 client (for good; its tokens stop working on their next request)',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    response: clientInfo,
    errors: [404],
  })
  revokeClient(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.act(p.id, c, (id) => this.deps.access.revokeClient(id));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/clients/{id}/pause',
    operationId: 'pauseClient',
    summary: 'Pause an OAuth2 client (no new tokens; its tokens refused until resumed)',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    response: clientInfo,
    errors: [404, 409],
  })
  pauseClient(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.act(p.id, c, (id) => this.deps.access.pauseClient(id));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/clients/{id}/resume',
    operationId: 'resumeClient',
    summary: 'Resume a paused OAuth2 client',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    response: clientInfo,
    errors: [404, 409],
  })
  resumeClient(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.act(p.id, c, (id) => this.deps.access.resumeClient(id));
  }
}
