import {
  Inject,
  Injectable,
  Module,
  type BeforeApplicationShutdown,
  type DynamicModule,
} from '@nestjs/common';
import type { EngineLogger } from '@sinew/engine';
import type { NextFunction, Request, Response } from 'express';
import { AccessController } from './access.controller';
import { AppsController } from './apps.controller';
import { AuditController } from './audit.controller';
import { ChannelsController } from './channels.controller';
import { ChannelOpsController } from './channel-ops.controller';
import { ConsentController } from './consent.controller';
import { apiContext } from './context';
import { DeadLettersController } from './dead-letters.controller';
import { ReconciliationsController } from './reconciliations.controller';
import { API_DEPS, type ApiDeps } from './deps';
import { DocsController } from './docs.controller';
import { ExportController } from './export.controller';
import { ApiGuard } from './guard';
import { MessagesController } from './messages.controller';
import { OAuthController } from './oauth.controller';
import { OidcController } from './oidc.controller';
import { OverviewController } from './overview.controller';
import { SessionController } from './session.controller';
import { StatsController } from './stats.controller';
import { isApiPath } from './problem';
import { SmartConfigurationController } from '../fhir/smart-configuration.controller';
import { AppWebhooksController, WebhooksAdminController } from './webhooks.controller';

/** Controllers whose routes are the admin API's (each one `@ApiRoute`). */
export const API_CONTROLLERS = [
  SessionController,
  // Before MessagesController and AuditController: /messages/export and /audit/export are not ids.
  ExportController,
  ChannelsController,
  ChannelOpsController,
  StatsController,
  OverviewController,
  MessagesController,
  DeadLettersController,
  ReconciliationsController,
  ConsentController,
  AccessController,
  AuditController,
  OAuthController,
  OidcController,
  AppsController,
  WebhooksAdminController,
];

/** Ends the open event streams before the HTTP server closes (it waits for open connections). */
@Injectable()
class EventStreamsShutdown implements BeforeApplicationShutdown {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  async beforeApplicationShutdown(): Promise<void> {
    await this.deps.events.close();
  }
}

/** The admin API (`/api/v1`, `/openapi.json`, `/docs`): the `api` role. */
@Module({})
export class ApiModule {
  static register(deps: ApiDeps): DynamicModule {
    return {
      module: ApiModule,
      // AppWebhooksController: apps' own routes, authenticated by their access token, not the admin API's.
      controllers: [...API_CONTROLLERS, DocsController, SmartConfigurationController, AppWebhooksController],
      providers: [{ provide: API_DEPS, useValue: deps }, ApiGuard, EventStreamsShutdown],
    };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * Records every admin API request in the audit log once its answer is sent (or, for a stream,
 * once it ends): who, which
 * operation (the route template, never a concrete path), which objects, the filter's names,
 * from where, the status, and whether message content was returned.
 */
export function auditRequests(deps: Pick<ApiDeps, 'audit'>, logger: EngineLogger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!isApiPath(req.path)) return next();
    let recorded = false;
    const record = () => {
      // Once per request: when the answer is sent, or when the connection closes after its
      // headers went out (a stream the caller hung up on, an export cut short).
      if (recorded || (!res.writableFinished && !res.headersSent)) return;
      recorded = true;
      const c = apiContext(req);
      const p = c.principal;
      deps.audit
        .append({
          actor: p?.name ?? 'anonymous',
          actorKind: p?.kind ?? 'anonymous',
          ...(p?.via ? { via: p.via } : {}),
          action: c.spec ? `${c.spec.method} ${c.spec.path}` : `${req.method} (no such route)`,
          ...(c.objectIds.length > 0 ? { objectIds: [...new Set(c.objectIds)] } : {}),
          ...(c.filter ? { filter: c.filter } : {}),
          ...(req.ip ? { from: req.ip } : {}),
          outcome: String(res.statusCode),
          contentRead: c.contentRead ?? false,
        })
        .catch((err: unknown) => logger.error({ err: errorText(err) }, 'audit log append failed'));
    };
    res.on('finish', record);
    res.on('close', record);
    next();
  };
}
