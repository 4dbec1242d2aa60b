import 'reflect-metadata';
import { chmodSync, mkdirSync, readFileSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Provider, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ChannelError,
  compileChannelDir,
  formatProblem,
  hasErrors,
  loadEnvironment,
  sortProblems,
  type ChannelEnvironment,
  type ChannelRegistries,
  type ChannelSet,
  type CompiledChannel,
} from '@sinew/channels';
import { DESTINATIONS, loadPem, SOURCES } from '@sinew/connectors';
import { AccessService, AppsService, AuditLog, hasScope, ingestScope, mayUseChannel } from '@sinew/auth';
import {
  createLogger,
  Engine,
  FhirWriteRouter,
  type DeployReport,
  type EngineLogger,
  type Role,
} from '@sinew/engine';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import { createQueueDriver } from '@sinew/queue';
import { openHub, type HubStore } from '@sinew/hub';
import { openStore, type Store } from '@sinew/store';
import { Redis } from 'ioredis';
import type { Server as TlsServer } from 'node:tls';
import { Gauge } from 'prom-client';
import type { EngineConfig } from './config';
import { OperationsModule, PinoNestLogger } from './http.module';
import { auditRequests } from './api/api.module';
import { consoleMiddleware, findConsoleDir } from './console';
import type { ApiDeps, FolderDeploy } from './api/deps';
import { OverviewEvents } from './api/events';
import { OidcSignIn } from './api/oidc';
import { OverviewReader } from './api/overview';
import { ProblemFilter } from './api/problem';
import { certificateExpiry, httpsOptions, reloadOnChange, type ListenerTls } from './tls';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from './api/rate-limit';
import { setUpReconcile } from './reconcile';
import type { FhirDeps } from './fhir/deps';
import { reportUnreadableRequest } from './fhir/access';
import { FhirWriteController, fhirWriteProvider } from './fhir/write.controller';
import { FHIR_SUBSCRIPTION_DEPS, SubscriptionController } from './fhir/subscription.controller';
import type { AppGate } from '@sinew/auth';
import { SubscriptionService, WebhookDispatcher, WebhookService, type WebhookHub } from '@sinew/webhooks';

export interface RunningEngine {
  engine: Engine;
  /** The bound port of /health, /ready and /metrics. */
  httpPort: number;
  logger: EngineLogger;
  /**
   * Compiles the channel folder again and deploys what changed; a folder with lint errors
   * leaves every running channel as it is. `by` says who asked (`signal`, `watcher`, `user:…`).
   */
  reload(by: string): Promise<DeployReport | undefined>;
  stop(): Promise<void>;
}

/** The commit checked out in the channel folder, when it is in a git checkout. */
function gitCommit(dir: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

/** The channel folder compiled; warnings logged, errors thrown as ChannelError. */
function compileFolder(dir: string, registries: ChannelRegistries, env: ChannelEnvironment): ChannelSet {
  const set = compileChannelDir(dir, registries, { env });
  sortProblems(set.problems);
  if (hasErrors(set.problems)) throw new ChannelError(set.problems);
  return set;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** The admin API's services: access and audit on the ledger, rate limits in Redis when scaled out. */
function apiDeps(
  config: EngineConfig,
  engine: Engine,
  store: Store,
  logger: EngineLogger,
  channels: { transformerDirs: readonly string[]; registries: ChannelRegistries },
  hub: HubStore,
): ApiDeps {
  const limiter: RateLimiter = config.REDIS_URL
    ? new RedisRateLimiter(
        new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: false }),
        config.SINEW_REDIS_PREFIX,
      )
    : new MemoryRateLimiter();
  const overview = new OverviewReader(engine, store);
  if (config.SINEW_ADMIN_ALERT_URL && !config.SINEW_ADMIN_ALERT_SECRET)
    throw new Error('SINEW_ADMIN_ALERT_URL is set: SINEW_ADMIN_ALERT_SECRET must be set too');
  const audit = new AuditLog(store, { recordFilterValues: config.SINEW_AUDIT_FILTER_VALUES });
  const apps = new AppsService(store, audit, {
    ...(config.SINEW_OAUTH_ISSUER ? { tokenIssuer: config.SINEW_OAUTH_ISSUER } : {}),
    defaultRateLimit: config.SINEW_APP_RATE_LIMIT,
    limiter,
    ...(config.SINEW_ADMIN_ALERT_URL
      ? { alert: { url: config.SINEW_ADMIN_ALERT_URL, secret: config.SINEW_ADMIN_ALERT_SECRET ?? '' } }
      : {}),
    warn: (message, detail) => logger.warn(detail, message),
  });
  return {
    engine,
    store,
    access: new AccessService(store, {
      tokenTtlS: config.SINEW_OAUTH_TOKEN_TTL_S,
      ...(config.SINEW_OAUTH_ISSUER ? { tokenIssuer: config.SINEW_OAUTH_ISSUER } : {}),
    }),
    audit,
    apps,
    appGate: apps,
    limiter,
    rate: { limit: config.SINEW_API_RATE_LIMIT, windowMs: 60_000 },
    logger,
    overview,
    events: new OverviewEvents(() => overview.compute(), {
      intervalMs: config.SINEW_EVENTS_INTERVAL_MS,
      logger,
    }),
    ...(config.SINEW_OAUTH_ISSUER ? { oauthIssuer: config.SINEW_OAUTH_ISSUER } : {}),
    ...(config.SINEW_OIDC_ISSUER ? { oidc: oidcSignIn(config) } : {}),
    channelsDir: resolve(config.SINEW_CHANNELS_DIR),
    ...channels,
    hub,
  };
}

/** Single sign-on from the SINEW_OIDC_* settings (the issuer is set); throws naming a missing one. */
function oidcSignIn(config: EngineConfig): OidcSignIn {
  const missing = (['SINEW_OIDC_CLIENT_ID', 'SINEW_OIDC_REDIRECT_URL'] as const).filter((k) => !config[k]);
  if (missing.length > 0)
    throw new Error(`SINEW_OIDC_ISSUER is set: ${missing.join(' and ')} must be set too`);
  return new OidcSignIn({
    issuer: config.SINEW_OIDC_ISSUER as string,
    clientId: config.SINEW_OIDC_CLIENT_ID as string,
    ...(config.SINEW_OIDC_CLIENT_SECRET ? { clientSecret: config.SINEW_OIDC_CLIENT_SECRET } : {}),
    redirectUrl: config.SINEW_OIDC_REDIRECT_URL as string,
    roleClaim: config.SINEW_OIDC_ROLE_CLAIM,
    roles: config.SINEW_OIDC_ROLES,
    name: config.SINEW_OIDC_NAME,
  });
}

/**
 * Audit retention (the scheduler role): rows older than SINEW_AUDIT_RETENTION_DAYS are pruned
 * at start and then hourly; the chain stays verifiable from the last pruned row's hash.
 */
function startAuditRetention(
  config: EngineConfig,
  store: Store,
  logger: EngineLogger,
): NodeJS.Timeout | undefined {
  const days = config.SINEW_AUDIT_RETENTION_DAYS;
  if (days <= 0 || !config.SINEW_ROLES.includes('scheduler')) return undefined;
  const audit = new AuditLog(store);
  const prune = () =>
    audit.prune(new Date(Date.now() - days * 86_400_000)).then(
      (r) => r.pruned > 0 && logger.info({ pruned: r.pruned, retentionDays: days }, 'audit rows pruned'),
      (err: unknown) =>
        logger.warn({ err: errorText(err) }, 'audit pruning failed; it runs again in an hour'),
    );
  void prune();
  const timer = setInterval(() => void prune(), 3_600_000);
  timer.unref();
  return timer;
}

/**
 * Webhook delivery log retention (the scheduler role): delivered, dead and withheld deliveries
 * older than SINEW_WEBHOOKS_RETENTION_DAYS are deleted at start and then hourly.
 */
function startWebhookRetention(
  config: EngineConfig,
  store: Store,
  logger: EngineLogger,
): NodeJS.Timeout | undefined {
  const days = config.SINEW_WEBHOOKS_RETENTION_DAYS;
  if (days <= 0 || !config.SINEW_ROLES.includes('scheduler')) return undefined;
  const prune = () =>
    store.webhooks.pruneDeliveries(new Date(Date.now() - days * 86_400_000)).then(
      (n) => n > 0 && logger.info({ deleted: n, retentionDays: days }, 'webhook deliveries deleted'),
      (err: unknown) =>
        logger.warn({ err: errorText(err) }, 'webhook delivery retention failed; it runs again in an hour'),
    );
  void prune();
  const timer = setInterval(() => void prune(), 3_600_000);
  timer.unref();
  return timer;
}

/**
 * Starts one engine process from a checked configuration: loads channels and transformers
 * (every problem stops start-up), opens the ledger and the queue, deploys the channels for the
 * configured roles and serves the operations endpoints.
 */
/**
 * The FHIR R4 API of the `api` role over the clinic data hub: apps' reads and searches, bulk
 * export, writes routed back through `fhir` source channels, and FHIR Subscriptions.
 */
function fhirApi(
  config: EngineConfig,
  store: Store,
  hub: HubStore,
  api: ApiDeps & { webhooks: { subscriptions: SubscriptionService; appGate?: AppGate } },
  logger: EngineLogger,
): { deps: FhirDeps; controllers: Array<Type<unknown>>; providers: Provider[] } | undefined {
  const apps = api.webhooks.appGate ?? api.appGate;
  if (!apps) return undefined;
  const writes = new FhirWriteRouter({ store, hub });
  const deps: FhirDeps = {
    hub,
    apps,
    audit: api.audit,
    writes,
    ...(config.SINEW_OAUTH_ISSUER ? { baseUrl: config.SINEW_OAUTH_ISSUER.replace(/\/+$/, '') } : {}),
    dataDir: resolve(config.SINEW_DATA_DIR),
    logger,
  };
  return {
    deps,
    controllers: [FhirWriteController, SubscriptionController],
    providers: [
      fhirWriteProvider({ writes, apps }),
      {
        provide: FHIR_SUBSCRIPTION_DEPS,
        useValue: { subscriptions: api.webhooks.subscriptions, appGate: apps },
      },
    ],
  };
}

/** Parts of the engine that are given to it rather than built from the configuration. */
export interface StartOptions {
  /** The clinic data hub's change feed and consent: its changes become webhook events. */
  hub?: WebhookHub;
  /** The app registry's gate: apps' access tokens on the webhook and FHIR Subscription routes. */
  appGate?: AppGate;
}

export async function startEngine(
  config: EngineConfig,
  logger: EngineLogger = createLogger(config.SINEW_LOG_LEVEL),
  options: StartOptions = {},
): Promise<RunningEngine> {
  const extra =
    config.SINEW_TRANSFORMERS_DIRS?.split(',')
      .map((d) => d.trim())
      .filter(Boolean) ?? [];
  const transformers = TransformerLibrary.load([BUILT_IN_TRANSFORMERS, ...extra]);
  const env = loadEnvironment(process.env);
  const registries: ChannelRegistries = { sources: SOURCES, destinations: DESTINATIONS, transformers };
  const set = compileFolder(config.SINEW_CHANNELS_DIR, registries, env);
  for (const p of set.problems) logger.warn({ finding: formatProblem(p) }, 'channel lint warning');
  const channels = set.channels;
  const store = await openStore({
    ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}),
    ...(config.DATABASE_SCHEMA ? { schema: config.DATABASE_SCHEMA } : {}),
    dataDir: config.SINEW_DATA_DIR,
    sqliteSynchronous: config.SINEW_SQLITE_SYNC,
    sqliteCacheMb: config.SINEW_SQLITE_CACHE_MB,
    poolSize: config.SINEW_DB_POOL_SIZE,
    logger,
  });
  // The clinic data hub lives in the ledger's database; `store` destinations write into it.
  const hub = openHub(store);
  const queue = createQueueDriver({
    ...(config.REDIS_URL ? { redisUrl: config.REDIS_URL } : {}),
    prefix: config.SINEW_REDIS_PREFIX,
    lockDurationMs: config.SINEW_QUEUE_LOCK_MS,
    stalledIntervalMs: Math.max(1_000, Math.round(config.SINEW_QUEUE_LOCK_MS / 2)),
    onError: (err) => logger.warn({ err: `${err.name}: ${err.message}` }, 'queue error'),
  });
  const ingestAccess = new AccessService(store);
  let engine: Engine;
  try {
    engine = new Engine({
      channels,
      store,
      queue,
      transformers,
      logger,
      env,
      hub,
      origin: (c) => {
        const commit = gitCommit(config.SINEW_CHANNELS_DIR);
        return { filePath: resolve(c.file), ...(commit ? { gitCommit: commit } : {}) };
      },
      roles: config.SINEW_ROLES.filter((r): r is Role => r !== 'api'),
      authorizeIngest: async (channelId, token, from) => {
        const principal = await ingestAccess.authenticateKey(token, from);
        if (!principal) return 'unknown';
        return hasScope(principal, ingestScope(channelId)) && mayUseChannel(principal, channelId)
          ? 'ok'
          : 'forbidden';
      },
      sweepIntervalMs: config.SINEW_SWEEP_INTERVAL_MS,
      // Bundled beside this file (scripts/build.mjs).
      pipelineThreads: {
        script: join(__dirname, 'pipeline-worker.js'),
        threads: config.SINEW_PIPELINE_THREADS,
      },
    });
  } catch (err) {
    await queue.close({ timeoutMs: 0 }).catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
  // Webhooks: deliveries are sent by the workers role; every role records raised events.
  const dispatcher = config.SINEW_ROLES.includes('workers')
    ? new WebhookDispatcher({
        store: store.webhooks,
        hub: options.hub ?? hub,
        logger,
        retry: { attempts: config.SINEW_WEBHOOKS_ATTEMPTS },
        timeoutMs: config.SINEW_WEBHOOKS_TIMEOUT_MS,
      })
    : undefined;
  const webhooks = new WebhookService({
    store: store.webhooks,
    allowHttp: config.SINEW_WEBHOOKS_ALLOW_HTTP,
    ...(dispatcher ? { wake: () => dispatcher.wake() } : {}),
  });
  const reconcile = setUpReconcile(config, engine, store, queue, env, logger, webhooks);
  const base = config.SINEW_ROLES.includes('api')
    ? apiDeps(config, engine, store, logger, { transformerDirs: extra, registries }, hub)
    : undefined;
  const appGate = options.appGate ?? base?.appGate;
  const api = base
    ? {
        ...base,
        reconciler: reconcile.reconciler,
        webhooks: {
          service: webhooks,
          subscriptions: new SubscriptionService({
            store: store.webhooks,
            allowHttp: config.SINEW_WEBHOOKS_ALLOW_HTTP,
          }),
          ...(appGate ? { appGate } : {}),
        },
      }
    : undefined;
  const fhir = api ? fhirApi(config, store, hub, api, logger) : undefined;
  const tls: ListenerTls | undefined =
    config.SINEW_HTTP_TLS_CERT && config.SINEW_HTTP_TLS_KEY
      ? {
          certPath: resolve(config.SINEW_HTTP_TLS_CERT),
          keyPath: resolve(config.SINEW_HTTP_TLS_KEY),
          ...(config.SINEW_HTTP_TLS_CA ? { caPath: resolve(config.SINEW_HTTP_TLS_CA) } : {}),
          clientCert: config.SINEW_HTTP_TLS_CLIENT_CERT,
        }
      : undefined;
  let https: ReturnType<typeof httpsOptions> | undefined;
  try {
    https = tls ? httpsOptions(tls) : undefined;
  } catch (err) {
    await queue.close({ timeoutMs: 0 }).catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
  const certificates = new Gauge({
    name: 'sinew_tls_certificate_expiry_timestamp_seconds',
    help: 'When the certificate of a listener expires (Unix time): the HTTP port, and each channel source with TLS',
    labelNames: ['listener'],
    registers: [engine.metrics.registry],
  });
  const recordSourceCertificates = (deployed: readonly CompiledChannel[]) => {
    for (const c of deployed) {
      const cert = (c.source.config as { tls?: { cert?: string } } | undefined)?.tls?.cert;
      if (!cert) continue;
      try {
        certificates.set(
          { listener: `source:${c.id}` },
          certificateExpiry(loadPem(cert, 'tls.cert')).getTime() / 1000,
        );
      } catch {
        // The source reports its own TLS problems when it starts.
      }
    }
  };
  recordSourceCertificates(channels);
  if (https) certificates.set({ listener: 'http' }, https.expiry.getTime() / 1000);
  const app = await NestFactory.create(OperationsModule.register(engine, config, api, store, fhir), {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
    ...(https
      ? {
          httpsOptions: {
            cert: https.cert,
            key: https.key,
            ...(https.ca ? { ca: https.ca } : {}),
            requestCert: https.requestCert,
            rejectUnauthorized: https.rejectUnauthorized,
          },
        }
      : {}),
  });
  if (https) {
    app.use((_req: unknown, res: { setHeader(k: string, v: string): void }, next: () => void) => {
      res.setHeader('Strict-Transport-Security', 'max-age=31536000');
      next();
    });
  }
  app.useGlobalFilters(
    new ProblemFilter(
      app.getHttpAdapter(),
      (err) => logger.error({ err: errorText(err) }, 'admin API request failed'),
      fhir ? reportUnreadableRequest(fhir.deps) : undefined,
    ),
  );
  if (api) app.use(auditRequests(api, logger));
  // The web console, with the admin API it talks to.
  const consoleDir = api ? findConsoleDir() : undefined;
  if (consoleDir) app.use(consoleMiddleware(consoleDir));
  else if (api) logger.warn('the web console is not built (npm run build): / serves nothing');
  await app.listen(config.SINEW_HTTP_PORT, config.SINEW_HTTP_HOST);
  const address = app.getHttpServer().address() as { port: number };
  const auditRetention = startAuditRetention(config, store, logger);
  const webhookRetention = startWebhookRetention(config, store, logger);
  const stopWatchingCertificates = tls
    ? reloadOnChange(app.getHttpServer() as TlsServer, tls, logger, (e) =>
        certificates.set({ listener: 'http' }, e.getTime() / 1000),
      )
    : undefined;
  try {
    await engine.start();
    await reconcile.start();
    dispatcher?.start();
  } catch (err) {
    await dispatcher?.stop().catch(() => undefined);
    await reconcile.stop().catch(() => undefined);
    await api?.events.close();
    await engine.stop(0).catch(() => undefined);
    await app.close();
    await api?.apps.close();
    await api?.limiter.close();
    throw err;
  }
  logger.info(
    {
      roles: [...engine.roles],
      channels: engine.channelIds,
      pipelineThreads: engine.pipelineThreads,
      store: store.kind,
      queue: queue.kind,
      http: `${https ? 'https' : 'http'}://${config.SINEW_HTTP_HOST}:${address.port}`,
      ...(consoleDir
        ? { console: `${https ? 'https' : 'http'}://${config.SINEW_HTTP_HOST}:${address.port}/` }
        : {}),
    },
    'sinew started',
  );
  if (api) {
    // The console needs a user to sign in; there is no default one.
    const users = await api.access.listUsers().catch(() => undefined);
    if (users?.length === 0)
      logger.warn(
        {
          create: `printf '%s' "$PASSWORD" | sinew users create --username admin --role admin --password-stdin${config.DATABASE_URL ? '' : ` --data ${config.SINEW_DATA_DIR}`}`,
        },
        'no user yet: create the first administrator to sign in to the web console and the admin API',
      );
  }
  // The pid file lets `sinew deploy` and `sinew rollback` ask this process to redeploy (SIGHUP).
  const pidFile = join(config.SINEW_DATA_DIR, 'sinew.pid');
  mkdirSync(config.SINEW_DATA_DIR, { recursive: true, mode: 0o700 });
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  // The mode above applies to a new file only; one left by an earlier run is set too.
  chmodSync(pidFile, 0o600);
  const redeploy = async (by: string): Promise<FolderDeploy> => {
    let next: ChannelSet;
    try {
      next = compileFolder(config.SINEW_CHANNELS_DIR, registries, loadEnvironment(process.env));
    } catch (err) {
      const findings = err instanceof ChannelError ? err.problems.map(formatProblem) : [String(err)];
      logger.warn(
        { by, findings },
        'redeploy refused: the channels do not compile; the running versions stay',
      );
      if (err instanceof ChannelError) await recordRefused(err, by).catch(() => undefined);
      return err instanceof ChannelError
        ? { problems: err.problems }
        : { problems: [], refusal: errorText(err) };
    }
    const report = await engine.deploy(next.channels, by);
    recordSourceCertificates(next.channels);
    logger.info({ by, ...report }, 'channels redeployed');
    return { report, problems: next.problems };
  };
  const reload = async (by: string): Promise<DeployReport | undefined> => (await redeploy(by)).report;
  if (api) api.reload = redeploy;
  // A refused file is in the history too, under the id it declares (when it declares one).
  const recordRefused = async (err: ChannelError, by: string): Promise<void> => {
    const files = new Set(err.problems.filter((p) => p.severity === 'error').map((p) => p.file));
    for (const file of files) {
      let content: string;
      try {
        content = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const id = /^id:\s*['"]?([A-Za-z0-9_-]{1,64})['"]?\s*$/m.exec(content)?.[1];
      if (!id) continue;
      await store.recordDeployment({
        channelId: id,
        content,
        filePath: resolve(file),
        deployedBy: by,
        deployedAt: new Date(),
        outcome: 'refused',
        problems: err.problems
          .filter((p) => p.file === file)
          .map((p) => ({
            line: p.line,
            column: p.column,
            level: p.severity,
            code: p.code,
            message: p.message,
            path: p.path,
          })),
      });
    }
  };
  let watcher: FSWatcher | undefined;
  if (config.SINEW_WATCH) {
    let timer: NodeJS.Timeout | undefined;
    watcher = watch(config.SINEW_CHANNELS_DIR, { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload('watcher'), 300);
    });
  }
  let stopping: Promise<void> | undefined;
  return {
    engine,
    httpPort: address.port,
    logger,
    reload,
    stop: () =>
      (stopping ??= (async () => {
        logger.info({}, 'sinew stopping');
        watcher?.close();
        stopWatchingCertificates?.();
        if (auditRetention) clearInterval(auditRetention);
        if (webhookRetention) clearInterval(webhookRetention);
        // Live streams end first: their timer reads the ledger the engine is about to close.
        await api?.events.close();
        // Attempts in flight are recorded before the ledger closes.
        await dispatcher?.stop();
        await reconcile.stop();
        // The HTTP server stops taking calls, and the apps' call counts are written, while the
        // ledger is still open: the engine closes it.
        await app.close();
        await api?.apps.close();
        await engine.stop(config.SINEW_STOP_TIMEOUT_MS);
        await api?.limiter.close();
        rmSync(pidFile, { force: true });
        logger.info({}, 'sinew stopped');
      })()),
  };
}

export { ChannelError };
