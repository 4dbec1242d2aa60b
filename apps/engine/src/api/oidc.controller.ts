import { Controller, Inject, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import type { SignInNote } from './oidc';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { sessionCookieHeader } from './session.controller';

/** The cookie that carries the sign-in's state, nonce and PKCE verifier to the callback (signed). */
const NOTE_COOKIE = 'sinew_oidc';
const NOTE_PATH = '/api/v1/session/oidc';
const NOTE_TTL_S = 600;

function noteCookie(req: Request, value: string, maxAgeS: number): string {
  // Lax: the callback is a top-level navigation from the provider's site.
  return [
    `${NOTE_COOKIE}=${value}`,
    `Path=${NOTE_PATH}`,
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${maxAgeS}`,
    ...(req.secure ? ['Secure'] : []),
  ].join('; ');
}

function readNoteCookie(req: Request): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === NOTE_COOKIE) return part.slice(at + 1).trim();
  }
  return undefined;
}

const providers = z.object({
  methods: z.array(
    z.object({
      type: z.enum(['password', 'oidc']),
      name: z.string().describe('What the sign-in page shows: “Sign in with …”'),
      url: z.string().describe('Where the browser goes to start: POST a form (password) or GET (oidc)'),
    }),
  ),
});

const callbackQuery = z.looseObject({
  code: z.string().max(4096).optional(),
  state: z.string().max(1024).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(2000).optional(),
});

/** People's single sign-on (OpenID Connect, authorization code with PKCE) and the sign-in methods on offer. */
@Controller()
@UseGuards(ApiGuard)
export class OidcController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  private signIn() {
    const o = this.deps.oidc;
    if (!o)
      throw new ApiProblem({
        status: 404,
        code: 'oidc.not_configured',
        detail: 'single sign-on is not configured (SINEW_OIDC_ISSUER)',
      });
    return o;
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/session/providers',
    operationId: 'signInMethods',
    summary: 'The ways to sign in (password, and single sign-on when configured)',
    tag: 'Session',
    scope: 'public',
    response: providers,
  })
  signInMethods(): z.output<typeof providers> {
    const methods: z.output<typeof providers>['methods'] = [
      { type: 'password', name: 'username and password', url: '/api/v1/session' },
    ];
    if (this.deps.oidc) methods.push({ type: 'oidc', name: this.deps.oidc.name, url: NOTE_PATH });
    return { methods };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/session/oidc',
    operationId: 'startSso',
    summary: 'Start single sign-on: redirects to the identity provider',
    description:
      'Answers 302 to the provider’s authorization endpoint (authorization code flow with PKCE, state and nonce), setting a short-lived signed cookie that the callback checks.',
    tag: 'Session',
    scope: 'public',
    status: 302,
    response: z.object({}),
    errors: [404, 503],
  })
  async startSso(@Res() res: Response): Promise<void> {
    const { url, note } = await this.signIn().start();
    const sealed = await this.deps.access.sealNote({ ...note }, NOTE_TTL_S);
    res.setHeader('Set-Cookie', noteCookie(res.req, sealed, NOTE_TTL_S));
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, url);
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/session/oidc/callback',
    operationId: 'finishSso',
    summary: 'Where the identity provider sends the browser back: opens a session and redirects to /',
    description:
      'Checks the state against the signed cookie, exchanges the code (PKCE verifier; ID token signature, issuer, audience and nonce checked), maps the role claim (SINEW_OIDC_ROLE_CLAIM, SINEW_OIDC_ROLES) to a role, creates or updates the user (marked SSO, no password) and sets the session cookie as a password sign-in does. No mapped role: 403 oidc.no_role.',
    tag: 'Session',
    scope: 'public',
    query: callbackQuery,
    status: 302,
    response: z.object({}),
    errors: [403, 404, 409, 503],
  })
  async finishSso(@Ctx() c: ApiContext, @Res() res: Response): Promise<void> {
    const req = res.req;
    const signIn = this.signIn();
    const sealed = readNoteCookie(req);
    const opened = sealed === undefined ? undefined : await this.deps.access.openNote(sealed);
    // The note is good for one answer, whatever happens next.
    res.setHeader('Set-Cookie', noteCookie(req, '', 0));
    if (
      !opened ||
      typeof opened['state'] !== 'string' ||
      typeof opened['nonce'] !== 'string' ||
      typeof opened['verifier'] !== 'string'
    )
      throw new ApiProblem({
        status: 400,
        code: 'oidc.state_mismatch',
        detail: 'no sign-in is under way in this browser (or it took over 10 minutes): start again',
      });
    const note: SignInNote = { state: opened['state'], nonce: opened['nonce'], verifier: opened['verifier'] };
    const at = req.originalUrl.indexOf('?');
    const identity = await signIn.finish(at >= 0 ? req.originalUrl.slice(at + 1) : '', note);
    const principal = await this.deps.access.ssoUser(identity);
    if (!principal)
      throw new ApiProblem({
        status: 403,
        code: 'auth.disabled',
        detail: `the account ${identity.username} is disabled here: ask an administrator`,
      });
    c.principal = principal;
    c.objectIds.push(principal.id);
    const session = await this.deps.access.createSession(principal.id, req.ip);
    res.setHeader('Set-Cookie', [
      noteCookie(req, '', 0),
      sessionCookieHeader(req, session.token, Math.floor((session.expiresAt.getTime() - Date.now()) / 1000)),
    ]);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, '/');
  }
}
