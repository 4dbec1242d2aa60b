import {
  Controller,
  ForbiddenException,
  Get,
  Header,
  Headers,
  Inject,
  UnauthorizedException,
  Module,
  ServiceUnavailableException,
  type DynamicModule,
  type LoggerService,
  type Provider,
  type Type,
} from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AccessService, hasScope } from '@sinew/auth';
import type { Engine } from '@sinew/engine';
import type { Store } from '@sinew/store';
import type { EngineConfig } from './config';
import type { EngineLogger } from '@sinew/engine';
import { ApiModule } from './api/api.module';
import type { ApiDeps } from './api/deps';
import type { FhirDeps } from './fhir/deps';
import { FhirModule } from './fhir/fhir.module';

export const ENGINE = Symbol('ENGINE');
/** The access service when /ready and /metrics need a key (SINEW_OPS_KEY_REQUIRED), else undefined. */
export const OPS_ACCESS = Symbol('OPS_ACCESS');

/** `/health` (the process is alive), `/ready` (ledger, queue, channels), `/metrics` (Prometheus). */
@Controller()
export class OperationsController {
  constructor(
    @Inject(ENGINE) private readonly engine: Engine,
    @Inject(OPS_ACCESS) private readonly access: AccessService | undefined,
  ) {}

  /** With SINEW_OPS_KEY_REQUIRED: a Bearer API key holding metrics:read (else 401/403). */
  private async checkKey(authorization: string | undefined): Promise<void> {
    if (!this.access) return;
    const token = /^Bearer ([\x21-\x7e]{1,1024})$/.exec(authorization ?? '')?.[1];
    const principal = token ? await this.access.authenticateKey(token) : undefined;
    if (!principal) throw new UnauthorizedException('an API key with metrics:read is required');
    if (!hasScope(principal, 'metrics:read'))
      throw new ForbiddenException('this needs the scope metrics:read');
  }

  @Get('health')
  health(): { status: string } {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(
    @Headers('authorization') authorization?: string,
  ): Promise<{ status: string; checks: Record<string, string> }> {
    await this.checkKey(authorization);
    const { ready, checks } = await this.engine.readiness();
    if (!ready) throw new ServiceUnavailableException({ status: 'unavailable', checks });
    return { status: 'ready', checks };
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(@Headers('authorization') authorization?: string): Promise<string> {
    await this.checkKey(authorization);
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
  static register(
    engine: Engine,
    config: EngineConfig,
    api?: ApiDeps,
    store?: Store,
    /**
     * The FHIR R4 API (`/fhir/R4`), when the clinic data hub runs in this process, with the
     * FHIR controllers of other parts (writes, subscriptions) and their providers.
     */
    fhir?: { deps: FhirDeps; controllers?: Array<Type<unknown>>; providers?: Provider[] },
  ): DynamicModule {
    const opsAccess = config.SINEW_OPS_KEY_REQUIRED
      ? (api?.access ?? (store ? new AccessService(store) : undefined))
      : undefined;
    if (config.SINEW_OPS_KEY_REQUIRED && !opsAccess)
      throw new Error('SINEW_OPS_KEY_REQUIRED needs the ledger to check keys against');
    return {
      module: OperationsModule,
      imports: [
        ...(api ? [ApiModule.register(api)] : []),
        ...(fhir ? [FhirModule.register(fhir.deps, fhir.controllers, fhir.providers)] : []),
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          ignoreEnvVars: true,
          isGlobal: true,
          load: [() => config],
        }),
      ],
      controllers: [OperationsController],
      providers: [
        { provide: ENGINE, useValue: engine },
        { provide: OPS_ACCESS, useValue: opsAccess },
      ],
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
