import {
  Controller,
  Get,
  Header,
  Inject,
  Module,
  ServiceUnavailableException,
  type DynamicModule,
  type LoggerService,
} from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import type { Engine } from '@sinew/engine';
import type { EngineConfig } from './config';
import type { EngineLogger } from '@sinew/engine';
import { ApiModule } from './api/api.module';
import type { ApiDeps } from './api/deps';

export const ENGINE = Symbol('ENGINE');

/** `/health` (the process is alive), `/ready` (ledger, queue, channels), `/metrics` (Prometheus). */
@Controller()
export class OperationsController {
  constructor(@Inject(ENGINE) private readonly engine: Engine) {}

  @Get('health')
  health(): { status: string } {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(): Promise<{ status: string; checks: Record<string, string> }> {
    const { ready, checks } = await this.engine.readiness();
    if (!ready) throw new ServiceUnavailableException({ status: 'unavailable', checks });
    return { status: 'ready', checks };
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(): Promise<string> {
    await this.engine.collectQueueMetrics();
    return this.engine.metrics.registry.metrics();
  }
}

@Module({})
export class OperationsModule {
  /**
   * The engine and its settings (already checked by `loadConfig`) as Nest sees them:
   * `ConfigService` answers `get('SINEW_HTTP_PORT')` and the like; no `.env` file is read.
   */
  static register(engine: Engine, config: EngineConfig, api?: ApiDeps): DynamicModule {
    return {
      module: OperationsModule,
      imports: [
        ...(api ? [ApiModule.register(api)] : []),
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          ignoreEnvVars: true,
          isGlobal: true,
          load: [() => config],
        }),
      ],
      controllers: [OperationsController],
      providers: [{ provide: ENGINE, useValue: engine }],
    };
  }
}

/** Nest's own messages, as pino JSON lines. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: EngineLogger) {}
  log(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
}
