import { Controller, Inject, UseGuards } from '@nestjs/common';
import { ROLES, type KeyInfo, type Role, type UserInfo } from '@sinew/auth';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { idParam, scopeSchema } from './schemas';

const scope = scopeSchema;
const channelList = z.array(idParam).min(1).max(200);

const keyInfo = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().describe('The key reads `snw_<prefix>_…`'),
  scopes: z.array(scope),
  channels: z.array(z.string()).optional().describe('Absent: every channel'),
  state: z.enum(['active', 'paused', 'revoked', 'expired']),
  created_at: z.string(),
  created_by: z.string().optional(),
  expires_at: z.string().optional(),
  last_used_at: z.string().optional(),
  last_used_from: z.string().optional(),
});

const userInfo = z.object({
  id: z.string(),
  username: z.string(),
  role: z.enum(ROLES),
  scopes: z.array(scope),
  channels: z.array(z.string()).optional(),
  state: z.enum(['active', 'disabled']),
  sso: z.boolean().optional().describe('Signs in through the OpenID provider only (no password)'),
  locked_until: z.string().optional(),
  last_login_at: z.string().optional(),
  created_at: z.string(),
});

const createKeyBody = z.strictObject({
  name: z.string().min(1).max(100),
  scopes: z.array(scope).min(1),
  channels: channelList.optional(),
  expires_in_days: z.number().int().min(1).max(3650).optional(),
});

const createUserBody = z.strictObject({
  username: z.string().min(1).max(64),
  role: z.enum(ROLES),
  password: z.string().min(1).max(1024).describe('At least 12 characters'),
  channels: channelList.optional(),
});

const passwordBody = z.strictObject({
  password: z.string().min(1).max(1024).describe('At least 12 characters'),
});

const roleBody = z.strictObject({ role: z.enum(ROLES) });

const idPath = z.strictObject({ id: idParam });
const iso = (d: Date | undefined) => (d ? d.toISOString() : undefined);

function keyOut(k: KeyInfo): z.output<typeof keyInfo> {
  const out: z.output<typeof keyInfo> = {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    state: k.state,
    created_at: k.createdAt.toISOString(),
  };
  if (k.channels) out.channels = k.channels;
  if (k.createdBy) out.created_by = k.createdBy;
  if (k.expiresAt) out.expires_at = iso(k.expiresAt) as string;
  if (k.lastUsedAt) out.last_used_at = iso(k.lastUsedAt) as string;
  if (k.lastUsedFrom) out.last_used_from = k.lastUsedFrom;
  return out;
}

function userOut(u: UserInfo): z.output<typeof userInfo> {
  const out: z.output<typeof userInfo> = {
    id: u.id,
    username: u.username,
    role: u.role,
    scopes: u.scopes,
    state: u.state,
    created_at: u.createdAt.toISOString(),
  };
  if (u.channels) out.channels = u.channels;
  if (u.sso) out.sso = true;
  if (u.lockedUntil) out.locked_until = u.lockedUntil.toISOString();
  if (u.lastLoginAt) out.last_login_at = u.lastLoginAt.toISOString();
  return out;
}

/** API keys and users (the `admin` scope). */
@Controller()
@UseGuards(ApiGuard)
export class AccessController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/keys',
    operationId: 'listKeys',
    summary: 'API keys (never their secrets)',
    tag: 'Access',
    scope: 'admin',
    response: z.object({ items: z.array(keyInfo) }),
  })
  async listKeys(): Promise<{ items: Array<z.output<typeof keyInfo>> }> {
    return { items: (await this.deps.access.listKeys()).map(keyOut) };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/keys',
    operationId: 'createKey',
    summary: 'Create an API key (its secret is in this answer only)',
    tag: 'Access',
    scope: 'admin',
    status: 201,
    body: createKeyBody,
    response: z.object({ id: z.string(), prefix: z.string(), key: z.string().describe('Shown once') }),
  })
  async createKey(
    @Input('body') b: z.output<typeof createKeyBody>,
    @Ctx() c: ApiContext,
  ): Promise<{ id: string; prefix: string; key: string }> {
    const k = await this.deps.access.createKey({
      name: b.name,
      scopes: b.scopes,
      ...(b.channels ? { channels: b.channels } : {}),
      ...(b.expires_in_days ? { expiresAt: new Date(Date.now() + b.expires_in_days * 86_400_000) } : {}),
      createdBy: c.principal?.name ?? 'api',
    });
    c.objectIds.push(k.id);
    return { id: k.id, prefix: k.prefix, key: k.secret };
  }

  private async keyAction(id: string, c: ApiContext, act: (id: string) => Promise<void>) {
    await act(id);
    c.objectIds.push(id);
    const k = (await this.deps.access.listKeys()).find((x) => x.id === id);
    return keyOut(k as KeyInfo);
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/keys/{id}/revoke',
    operationId: 'revokeKey',
    summary: 'Revoke an API key (for good; effective on its next request)',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    response: keyInfo,
    errors: [404],
  })
  revokeKey(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.keyAction(p.id, c, (id) => this.deps.access.revokeKey(id));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/keys/{id}/pause',
    operationId: 'pauseKey',
    summary: 'Pause an API key (refused until resumed)',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    response: keyInfo,
    errors: [404, 409],
  })
  pauseKey(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.keyAction(p.id, c, (id) => this.deps.access.pauseKey(id));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/keys/{id}/resume',
    operationId: 'resumeKey',
    summary: 'Resume a paused API key',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    response: keyInfo,
    errors: [404, 409],
  })
  resumeKey(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.keyAction(p.id, c, (id) => this.deps.access.resumeKey(id));
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/users',
    operationId: 'listUsers',
    summary: 'Users (never their password hashes)',
    tag: 'Access',
    scope: 'admin',
    response: z.object({ items: z.array(userInfo) }),
  })
  async listUsers(): Promise<{ items: Array<z.output<typeof userInfo>> }> {
    return { items: (await this.deps.access.listUsers()).map(userOut) };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/users',
    operationId: 'createUser',
    summary: 'Create a user',
    tag: 'Access',
    scope: 'admin',
    status: 201,
    body: createUserBody,
    response: z.object({ id: z.string() }),
    errors: [409],
  })
  async createUser(
    @Input('body') b: z.output<typeof createUserBody>,
    @Ctx() c: ApiContext,
  ): Promise<{ id: string }> {
    const u = await this.deps.access.createUser({
      username: b.username,
      role: b.role,
      password: b.password,
      ...(b.channels ? { channels: b.channels } : {}),
    });
    c.objectIds.push(u.id);
    return u;
  }

  private async userAction(id: string, c: ApiContext, act: (id: string) => Promise<void>) {
    c.objectIds.push(id);
    await act(id);
    const u = await this.deps.access.getUser(id);
    if (!u)
      throw new ApiProblem({ status: 404, code: 'access.not_found', detail: `user ${id} does not exist` });
    return userOut(u);
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/users/{id}/disable',
    operationId: 'disableUser',
    summary: 'Disable a user: they cannot sign in, their sessions end',
    description: 'The last active administrator cannot be disabled (409).',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    response: userInfo,
    errors: [404, 409],
  })
  disableUser(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.userAction(p.id, c, (id) => this.deps.access.disableUser(id));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/users/{id}/enable',
    operationId: 'enableUser',
    summary: 'Let a disabled user sign in again',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    response: userInfo,
    errors: [404],
  })
  enableUser(@Input('params') p: { id: string }, @Ctx() c: ApiContext) {
    return this.userAction(p.id, c, (id) => this.deps.access.enableUser(id));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/users/{id}/password',
    operationId: 'setUserPassword',
    summary: 'Set a user’s password (lifts a lockout; their sessions end)',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    body: passwordBody,
    response: userInfo,
    errors: [404],
  })
  setUserPassword(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof passwordBody>,
    @Ctx() c: ApiContext,
  ) {
    return this.userAction(p.id, c, (id) => this.deps.access.setPassword(id, b.password));
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/users/{id}/role',
    operationId: 'setUserRole',
    summary: 'Give a user another role (their sessions hold it from their next request)',
    description:
      'A user who signs in through the OpenID provider takes their role from its claim, and the last active administrator keeps theirs (409).',
    tag: 'Access',
    scope: 'admin',
    params: idPath,
    body: roleBody,
    response: userInfo,
    errors: [404, 409],
  })
  setUserRole(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof roleBody>,
    @Ctx() c: ApiContext,
  ) {
    return this.userAction(p.id, c, (id) => this.deps.access.setRole(id, b.role as Role));
  }
}
