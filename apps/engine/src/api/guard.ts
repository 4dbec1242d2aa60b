import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { hasScope, KEY_MARK, type Principal } from '@sinew/auth';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { z } from 'zod';
import { apiContext, type ApiContext } from './context';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiProblem, invalidParams } from './problem';
import { rateLimitHeaders } from './rate-limit';
import { ROUTE_SPEC, type RouteSpec } from './route';

const BEARER = /^Bearer ([\x21-\x7e]{1,1024})$/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const SESSION_COOKIE = 'sinew_session';

/** The session cookie's value, when the request carries one. */
export function sessionCookie(req: Request): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === SESSION_COOKIE) return part.slice(at + 1).trim();
  }
  return undefined;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="sinew"' };

function parse(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    throw new ApiProblem({
      status: 400,
      code: 'request.invalid',
      detail: `invalid ${where === 'path' ? 'path parameter' : where}`,
      invalid_params: invalidParams(where, r.error),
    });
  }
  return r.data;
}

/**
 * Every admin API operation passes here first: the route must be declared (`@ApiRoute`), the
 * caller authenticated (Bearer API key or OAuth2 access token, or a session), within its rate limit and holding the route's scope;
 * then path, query and body are validated against the declared schemas.
 */
@Injectable()
export class ApiGuard implements CanActivate {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  /** The caller: a Bearer API key, or else a browser session cookie (with its CSRF token on writes). */
  private async authenticate(req: Request, c: ApiContext): Promise<Principal> {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = BEARER.exec(header);
      if (!m)
        throw new ApiProblem(
          { status: 401, code: 'auth.malformed', detail: 'expected Authorization: Bearer <token>' },
          CHALLENGE,
        );
      // API keys read `snw_…`; anything else is taken for an OAuth2 access token (a JWT).
      const bearer = m[1] as string;
      const principal = bearer.startsWith(KEY_MARK)
        ? await this.deps.access.authenticateKey(bearer, req.ip)
        : await this.deps.access.authenticateToken(bearer);
      if (!principal)
        throw new ApiProblem(
          {
            status: 401,
            code: 'auth.invalid',
            detail: 'the credentials are unknown, expired, revoked or paused',
          },
          CHALLENGE,
        );
      return principal;
    }
    const token = sessionCookie(req);
    if (token === undefined)
      throw new ApiProblem({ status: 401, code: 'auth.missing', detail: 'credentials required' }, CHALLENGE);
    const session = await this.deps.access.authenticateSession(token);
    if (!session)
      throw new ApiProblem(
        { status: 401, code: 'session.expired', detail: 'the session has ended: sign in again' },
        CHALLENGE,
      );
    if (!SAFE_METHODS.has(req.method)) {
      const sent = req.headers['x-csrf-token'];
      if (typeof sent !== 'string' || !sameText(sent, session.csrfToken))
        throw new ApiProblem({
          status: 403,
          code: 'csrf.invalid',
          detail: 'a signed-in browser must send its X-CSRF-Token with every change',
        });
    }
    c.session = { token, csrfToken: session.csrfToken };
    return session.principal;
  }

  private async limit(key: string, res: { setHeader(k: string, v: string): void }): Promise<void> {
    const { rate } = this.deps;
    const decision = await this.deps.limiter.take(key, rate);
    const headers = rateLimitHeaders(rate, decision);
    if (!decision.allowed)
      throw new ApiProblem({ status: 429, code: 'rate.limited', detail: 'too many requests' }, headers);
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const spec = Reflect.getMetadata(ROUTE_SPEC, ctx.getHandler()) as RouteSpec | undefined;
    const req = ctx.switchToHttp().getRequest<Request>();
    const res = ctx.switchToHttp().getResponse<{ setHeader(k: string, v: string): void }>();
    const c = apiContext(req);
    if (!spec) throw new ApiProblem({ status: 500, code: 'route.undeclared', detail: 'internal error' });
    c.spec = spec;
    if (spec.scope === 'public') {
      // Unauthenticated operations (sign-in) are limited per address.
      await this.limit(`ip:${req.ip ?? ''}:${spec.operationId}`, res);
    } else {
      const principal = await this.authenticate(req, c);
      c.principal = principal;
      await this.limit(`${principal.kind}:${principal.id}:${spec.operationId}`, res);
      if (spec.scope !== 'authenticated' && !hasScope(principal, spec.scope))
        throw new ApiProblem({
          status: 403,
          code: 'scope.required',
          detail: `this operation needs the scope ${spec.scope}`,
          required_scope: spec.scope,
        });
    }
    c.params = parse(spec.params, req.params, 'path');
    c.query = parse(spec.query, req.query, 'query');
    c.body = parse(spec.body, req.body, 'body');
    return true;
  }
}
