import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { hasScope } from '@sinew/auth';
import type { Request } from 'express';
import type { z } from 'zod';
import { apiContext } from './context';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiProblem, invalidParams } from './problem';
import { rateLimitHeaders } from './rate-limit';
import { ROUTE_SPEC, type RouteSpec } from './route';

const BEARER = /^Bearer ([\x21-\x7e]{1,1024})$/;
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
 * caller authenticated (Bearer API key), within its rate limit and holding the route's scope;
 * then path, query and body are validated against the declared schemas.
 */
@Injectable()
export class ApiGuard implements CanActivate {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const spec = Reflect.getMetadata(ROUTE_SPEC, ctx.getHandler()) as RouteSpec | undefined;
    const req = ctx.switchToHttp().getRequest<Request>();
    const res = ctx.switchToHttp().getResponse<{ setHeader(k: string, v: string): void }>();
    const c = apiContext(req);
    if (!spec) throw new ApiProblem({ status: 500, code: 'route.undeclared', detail: 'internal error' });
    c.spec = spec;
    if (spec.scope !== 'public') {
      const header = req.headers.authorization;
      if (header === undefined)
        throw new ApiProblem(
          { status: 401, code: 'auth.missing', detail: 'credentials required' },
          CHALLENGE,
        );
      const m = BEARER.exec(header);
      if (!m)
        throw new ApiProblem(
          { status: 401, code: 'auth.malformed', detail: 'expected Authorization: Bearer <token>' },
          CHALLENGE,
        );
      const principal = await this.deps.access.authenticateKey(m[1] as string, req.ip);
      if (!principal)
        throw new ApiProblem(
          {
            status: 401,
            code: 'auth.invalid',
            detail: 'the credentials are unknown, expired, revoked or paused',
          },
          CHALLENGE,
        );
      c.principal = principal;
      const { rate } = this.deps;
      const decision = await this.deps.limiter.take(
        `${principal.kind}:${principal.id}:${spec.operationId}`,
        rate,
      );
      const headers = rateLimitHeaders(rate, decision);
      if (!decision.allowed)
        throw new ApiProblem({ status: 429, code: 'rate.limited', detail: 'too many requests' }, headers);
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      if (!hasScope(principal, spec.scope))
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
