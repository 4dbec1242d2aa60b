import { Controller, Inject, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard, SESSION_COOKIE } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { scopeSchema } from './schemas';

const who = z.object({
  kind: z.enum(['user', 'key', 'client']),
  name: z.string(),
  scopes: z.array(scopeSchema),
  channels: z.array(z.string()).optional().describe('Absent: every channel'),
  csrf_token: z
    .string()
    .optional()
    .describe('A browser session’s token: send it as X-CSRF-Token with every POST, PUT and DELETE'),
  expires_at: z.string().optional(),
});

const signIn = z.strictObject({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
});

/** The session cookie's Set-Cookie value (password and single sign-on alike). */
export function sessionCookieHeader(req: Request, token: string, maxAgeS: number): string {
  return [
    `${SESSION_COOKIE}=${token}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeS}`,
    ...(req.secure ? ['Secure'] : []),
  ].join('; ');
}

/** Browser sign-in and sign-out (the console): an HttpOnly session cookie and a CSRF token. */
@Controller()
@UseGuards(ApiGuard)
export class SessionController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/session',
    operationId: 'signIn',
    summary: 'Sign in (sets the session cookie)',
    description:
      'Wrong username or password answer one generic 401. After repeated failures the account is locked for a while (429 with Retry-After), doubling each time.',
    tag: 'Session',
    scope: 'public',
    body: signIn,
    response: who,
    errors: [401, 429],
  })
  async signIn(
    @Input('body') b: z.output<typeof signIn>,
    @Ctx() c: ApiContext,
    @Res({ passthrough: true }) res: Response,
  ): Promise<z.output<typeof who>> {
    const req = res.req;
    const result = await this.deps.access.login(b.username, b.password, req.ip);
    if (!result.ok) {
      if (result.reason === 'locked') {
        const s = Math.max(1, Math.ceil((result.retryAfterMs ?? 60_000) / 1000));
        throw new ApiProblem(
          {
            status: 429,
            code: 'auth.locked',
            detail: `too many failed sign-ins: the account is locked; try again in ${s} s, or ask an administrator to reset the password`,
          },
          { 'Retry-After': String(s) },
        );
      }
      throw new ApiProblem({ status: 401, code: 'auth.failed', detail: 'wrong username or password' });
    }
    const p = result.principal;
    c.principal = p;
    const session = await this.deps.access.createSession(p.id, req.ip);
    res.setHeader(
      'Set-Cookie',
      sessionCookieHeader(req, session.token, Math.floor((session.expiresAt.getTime() - Date.now()) / 1000)),
    );
    return {
      kind: 'user',
      name: p.name,
      scopes: [...p.scopes],
      ...(p.channels ? { channels: [...p.channels] } : {}),
      csrf_token: session.csrfToken,
      expires_at: session.expiresAt.toISOString(),
    };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/session',
    operationId: 'whoAmI',
    summary: 'Who the caller is: the signed-in user or the key, and their scopes',
    tag: 'Session',
    scope: 'authenticated',
    response: who,
  })
  whoAmI(@Ctx() c: ApiContext): z.output<typeof who> {
    const p = c.principal!;
    return {
      kind: p.kind,
      name: p.name,
      scopes: [...p.scopes],
      ...(p.channels ? { channels: [...p.channels] } : {}),
      ...(c.session ? { csrf_token: c.session.csrfToken } : {}),
    };
  }

  @ApiRoute({
    method: 'DELETE',
    path: '/api/v1/session',
    operationId: 'signOut',
    summary: 'Sign out (the session ends on the server too)',
    tag: 'Session',
    scope: 'authenticated',
    response: z.object({ signed_out: z.boolean() }),
  })
  async signOut(
    @Ctx() c: ApiContext,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ signed_out: boolean }> {
    if (!c.session) return { signed_out: false };
    await this.deps.access.endSession(c.session.token);
    res.setHeader('Set-Cookie', sessionCookieHeader(res.req, '', 0));
    return { signed_out: true };
  }
}
