/**
 * The engine's reconciliations: the folder's files compiled (a broken file is logged and left
 * out; the channels run on), run by the API and, in the scheduler role, on their schedules; each
 * finished run's alerts sent as signed webhooks through the ledger, and its critical classes
 * raising the sync-error flag.
 */
import { hostname } from 'node:os';
import { formatProblem, type ChannelEnvironment } from '@sinew/channels';
import type { Engine, EngineLogger } from '@sinew/engine';
import type { QueueDriver } from '@sinew/queue';
import {
  AlertSender,
  FailSafe,
  FolderReconciler,
  ReconcileScheduler,
  engineChannelControl,
  loadReconciliationFolder,
  reconcileParts,
  type AlertWebhook,
  type ReconcileStore,
} from '@sinew/reconcile';
import type { Store } from '@sinew/store';
import { discrepancyEvent, type WebhookService } from '@sinew/webhooks';
import type { EngineConfig } from './config';

export interface EngineReconcile {
  reconciler: FolderReconciler;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function setUpReconcile(
  config: EngineConfig,
  engine: Engine,
  store: Store & { reconcile: ReconcileStore },
  queue: QueueDriver,
  env: ChannelEnvironment,
  logger: EngineLogger,
  events?: WebhookService,
): EngineReconcile {
  const parts = reconcileParts({ ledger: store });
  const { reconciliations, problems } = loadReconciliationFolder(
    config.SINEW_RECONCILIATIONS_DIR,
    env,
    parts.sideSchemas,
  );
  for (const p of problems) {
    if (p.severity === 'error')
      logger.error({ finding: formatProblem(p) }, 'reconciliation file refused: it is not run until fixed');
    else logger.warn({ finding: formatProblem(p) }, 'reconciliation lint warning');
  }
  const webhooks: Record<string, AlertWebhook> = {};
  for (const r of reconciliations) {
    const hook = r.alerts?.webhook;
    if (hook?.url && hook.secret) webhooks[r.id] = { url: hook.url, secret: hook.secret };
    else if (hook?.url)
      logger.warn({ reconciliation: r.id }, 'alerts.webhook has no secret: its alerts are not sent unsigned');
  }
  const roles = config.SINEW_ROLES;
  const alerts = new AlertSender({
    store,
    queue,
    logger,
    metrics: engine.metrics,
    webhooks,
    send: roles.includes('workers'),
    sweepIntervalMs: config.SINEW_SWEEP_INTERVAL_MS,
  });
  const failSafe = new FailSafe({
    store: store.reconcile,
    channels: engineChannelControl(engine, store),
    logger,
  });
  const reconciler = new FolderReconciler({
    reconciliations,
    store: store.reconcile,
    ledger: store,
    parts,
    hooks: {
      async afterRun(r, run) {
        logger.info(
          {
            reconciliation: r.id,
            run: run.id,
            status: run.status,
            discrepancies: run.summary?.discrepancies ?? 0,
            ...(run.error ? { error: run.error } : {}),
          },
          'reconciliation run finished',
        );
        if (run.status === 'failed') return;
        await alerts.send(run);
        await failSafe.afterRun(
          {
            id: r.id,
            critical: Object.fromEntries(r.entities.map((e) => [e.name, e.critical])),
            pauseChannels: r.failSafe.pauseChannels,
          },
          run,
        );
      },
      async discrepancies(_r, run) {
        if (events) await events.raise(discrepancyEvent(run));
      },
      acknowledge: (flagId, by, note) => failSafe.acknowledge(flagId, by, note),
      afterRepair: () => void engine.sweep(),
      warn: (message, fields) => logger.warn(fields, message),
    },
  });
  const scheduler = roles.includes('scheduler')
    ? new ReconcileScheduler({
        reconciliations: reconciliations.map((r) => ({ id: r.id, ...r.schedule })),
        store: store.reconcile,
        owner: `${hostname()}:${process.pid}`,
        logger,
        run: (id, trigger) => reconciler.run(id, { trigger }),
      })
    : undefined;
  let retention: NodeJS.Timeout | undefined;
  return {
    reconciler,
    async start() {
      await alerts.start();
      await scheduler?.start();
      const days = config.SINEW_RECONCILE_RETENTION_DAYS;
      if (scheduler && days > 0) {
        const prune = () =>
          store.reconcile.deleteRunsBefore(new Date(Date.now() - days * 86_400_000)).then(
            (n) => n > 0 && logger.info({ deleted: n, retentionDays: days }, 'reconciliation runs deleted'),
            (err: unknown) =>
              logger.warn(
                { err: err instanceof Error ? err.message : String(err) },
                'reconciliation retention failed; it runs again in an hour',
              ),
          );
        void prune();
        retention = setInterval(() => void prune(), 3_600_000);
        retention.unref();
      }
      if (reconciliations.length > 0)
        logger.info(
          {
            reconciliations: reconciliations.map((r) => r.id),
            scheduled: scheduler !== undefined,
          },
          'reconciliations loaded',
        );
    },
    async stop() {
      if (retention) clearInterval(retention);
      await scheduler?.stop();
      await reconciler.idle();
      await alerts.stop();
    },
  };
}
