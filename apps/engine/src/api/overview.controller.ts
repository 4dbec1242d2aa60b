import { Controller, Inject, Req, Res, UseGuards } from '@nestjs/common';
import { KEY_MARK, mayUseChannel, type Principal } from '@sinew/auth';
import type { Request, Response } from 'express';
import type { ApiContext } from './context';
import { Ctx } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { MAX_STREAMS_PER_PRINCIPAL, PING_INTERVAL_MS, type Recheck } from './events';
import { ApiGuard } from './guard';
import { overviewSchema, type Overview } from './overview';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';

/** The dashboard: every channel's state, counters, queue and destinations, at once or live. */
@Controller()
@UseGuards(ApiGuard)
export class OverviewController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/overview',
    operationId: 'getOverview',
    summary: 'Every channel’s state, last 24 hours, queue and destinations, in one answer',
    description:
      'The channels the caller may use. `state`: `paused` when paused; `failing` when a destination is down, or the last hour holds errored messages or dead-lettered deliveries; else `running`. Counters come from the ledger; whether a destination is up comes from this process’s workers (`null` when it runs none).',
    tag: 'Channels',
    scope: 'channels:read',
    response: overviewSchema,
  })
  async overview(@Ctx() c: ApiContext): Promise<Overview> {
    const principal = c.principal as Principal;
    const { engine, overview } = this.deps;
    return overview.compute(engine.channelIds.filter((id) => mayUseChannel(principal, id)));
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/events',
    operationId: 'streamEvents',
    summary: 'The overview, live (server-sent events)',
    description: `A \`text/event-stream\`: an \`overview\` event at once (its data: the answer of \`GET /api/v1/overview\`), then again whenever it changes (checked every 2 s, SINEW_EVENTS_INTERVAL_MS); a \`: ping\` comment every ${PING_INTERVAL_MS / 1000} s. Works with the session cookie (EventSource sends it). At most ${MAX_STREAMS_PER_PRINCIPAL} open streams per user or key (429 beyond). The stream ends when its credentials stop holding (signed out, session expired, user disabled, key revoked), checked every 10 s; EventSource then reconnects, and is refused.`,
    tag: 'Channels',
    scope: 'channels:read',
    response: overviewSchema,
    produces: 'text/event-stream',
    errors: [503],
  })
  events(@Ctx() c: ApiContext, @Req() req: Request, @Res() res: Response): void {
    const opened = this.deps.events.open(c.principal as Principal, res, this.recheck(c, req));
    if (opened === 'too_many')
      throw new ApiProblem(
        {
          status: 429,
          code: 'events.too_many',
          detail: `at most ${MAX_STREAMS_PER_PRINCIPAL} open event streams at once: close one first`,
        },
        { 'Retry-After': '15' },
      );
    if (opened === 'closed')
      throw new ApiProblem({ status: 503, code: 'events.closed', detail: 'the engine is stopping' });
  }

  /** The stream's credentials (the guard accepted them) checked again, while it is open. */
  private recheck(c: ApiContext, req: Request): Recheck | undefined {
    const { access } = this.deps;
    const session = c.session;
    if (session) return async () => (await access.authenticateSession(session.token))?.principal;
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined) return undefined;
    return bearer.startsWith(KEY_MARK)
      ? () => access.authenticateKey(bearer, req.ip)
      : () => access.authenticateToken(bearer);
  }
}
