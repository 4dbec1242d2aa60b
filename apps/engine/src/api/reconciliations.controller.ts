import { Controller, HttpCode, Inject, UseGuards } from '@nestjs/common';
import { hasScope, type Principal } from '@sinew/auth';
import {
  DISCREPANCY_CLASSES,
  REPAIRABLE_CLASSES,
  ReconcileRequestError,
  RepairError,
  runJson as runRecordJson,
  type DiscrepancyRecord,
  type Reconciler,
  type RunRecord,
  type SyncFlagRecord,
} from '@sinew/reconcile';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { idParam } from './schemas';

const TAG = 'Reconciliations';

const classEnum = z.enum(DISCREPANCY_CLASSES as unknown as [string, ...string[]]);
const value = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const runJson = z.object({
  id: z.string(),
  reconciliation: z.string(),
  status: z.enum(['running', 'clean', 'discrepancies', 'failed']),
  trigger: z.enum(['schedule', 'cli', 'api', 'catch_up']),
  period: z.object({ from: z.string().optional(), to: z.string().optional(), label: z.string() }),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  summary: z
    .object({
      entities: z.array(
        z.object({
          name: z.string(),
          counts: z.object({
            source: z.record(z.string(), z.number()),
            ledger: z.number().optional(),
            target: z.record(z.string(), z.number()),
          }),
          matched: z.number(),
          byKind: z.record(z.string(), z.number()),
          byClass: z.record(z.string(), z.number()),
          pushdown: z
            .object({
              rows: z.object({ source: z.number(), target: z.number() }),
              read: z.object({ source: z.number(), target: z.number() }),
            })
            .optional()
            .describe(
              'Both sides SQL: rows each database holds, and rows read (the ranges whose checksums differed)',
            ),
        }),
      ),
      discrepancies: z.number(),
      alerts: z.array(z.string()),
    })
    .optional(),
  error: z.string().optional().describe('Why a failed run failed'),
});

const flagJson = z.object({
  id: z.string(),
  reconciliation: z.string(),
  entity: z.string(),
  class: z.string(),
  count: z.number(),
  runId: z.string(),
  raisedAt: z.string(),
  acknowledgedAt: z.string().optional(),
  acknowledgedBy: z.string().optional(),
  note: z.string().optional(),
});

const recordJson = z.object({
  key: z.string(),
  fields: z.record(z.string(), value),
  status: z.string().nullable().optional(),
  updatedAt: z.string().nullable().optional(),
  ref: z.string().optional(),
});

const discrepancyJson = z.object({
  id: z.string(),
  runId: z.string(),
  entity: z.string(),
  kind: z.string(),
  class: classEnum,
  key: z.string().describe('The identity value (with phi:read; else "…")'),
  reason: z.string(),
  messageIds: z.array(z.string()),
  fields: z
    .array(
      z.object({
        field: z.string(),
        source: value.optional(),
        target: value.optional(),
        sourceNormalised: z.string().nullable().optional(),
        targetNormalised: z.string().nullable().optional(),
      }),
    )
    .optional()
    .describe('The differing fields; their values only with phi:read'),
  source: recordJson.optional().describe('The record at the source (phi:read)'),
  target: recordJson.optional().describe('The record at the target (phi:read)'),
  copies: z.number().optional(),
  repairedAt: z.string().optional(),
  repair: z.object({ by: z.string(), action: z.string(), detail: z.string() }).optional(),
});

const infoJson = z.object({
  id: z.string(),
  description: z.string().optional(),
  schedule: z.object({ cron: z.string(), timezone: z.string(), next: z.string().optional() }),
  period: z.string(),
  entities: z.array(z.string()),
  lastRun: runJson.optional(),
  flags: z.array(flagJson).describe('Open sync-error flags'),
});

const reconParams = z.strictObject({ id: idParam });
const runParams = z.strictObject({ runId: z.string().min(1).max(100) });
const flagParams = z.strictObject({ flagId: z.string().min(1).max(100) });
const startBody = z.strictObject({
  period: z
    .string()
    .max(40)
    .optional()
    .describe('yesterday, today, all, last_24h, last_7d, last_30d, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD'),
});
const runsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });
const discrepanciesQuery = z.strictObject({
  class: classEnum.optional(),
  entity: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  after: z.string().max(100).optional().describe('The last id of the previous page'),
});
const repairBody = z.strictObject({
  classes: z
    .array(z.enum(REPAIRABLE_CLASSES as unknown as [string, ...string[]]))
    .optional()
    .describe('Default: every repairable class'),
  dryRun: z.boolean().default(true).describe('Only list what would be done (the default)'),
});
const ackBody = z.strictObject({ note: z.string().max(500).optional() });

const iso = (d: Date | undefined): string | undefined => d?.toISOString();

/** A run as the API shows it: the report's JSON form (no values in it: counts and reasons only). */
export function runToJson(r: RunRecord): z.output<typeof runJson> {
  return runRecordJson(r) as z.output<typeof runJson>;
}

export function flagToJson(f: SyncFlagRecord): z.output<typeof flagJson> {
  return {
    id: f.id,
    reconciliation: f.reconciliation,
    entity: f.entity,
    class: f.class,
    count: f.count,
    runId: f.runId,
    raisedAt: f.raisedAt.toISOString(),
    ...(f.acknowledgedAt ? { acknowledgedAt: iso(f.acknowledgedAt) } : {}),
    ...(f.acknowledgedBy ? { acknowledgedBy: f.acknowledgedBy } : {}),
    ...(f.note ? { note: f.note } : {}),
  };
}

/** A discrepancy as the API shows it: values (PHI) only to callers with phi:read. */
export function discrepancyToJson(d: DiscrepancyRecord, phi: boolean): z.output<typeof discrepancyJson> {
  return {
    id: d.id,
    runId: d.runId,
    entity: d.entity,
    kind: d.kind,
    class: d.class,
    key: phi ? d.key : '…',
    reason: d.reason,
    messageIds: d.messageIds,
    ...(d.fields
      ? {
          fields: d.fields.map((f) =>
            phi
              ? {
                  field: f.field,
                  source: f.source,
                  target: f.target,
                  sourceNormalised: f.sourceNormalised,
                  targetNormalised: f.targetNormalised,
                }
              : { field: f.field },
          ),
        }
      : {}),
    ...(phi && d.source ? { source: d.source } : {}),
    ...(phi && d.target ? { target: d.target } : {}),
    ...(d.copies !== undefined ? { copies: d.copies } : {}),
    ...(d.repairedAt ? { repairedAt: d.repairedAt.toISOString() } : {}),
    ...(d.repair ? { repair: d.repair } : {}),
  };
}

function who(p: Principal): string {
  return `${p.kind === 'user' ? 'user' : p.kind === 'key' ? 'key' : 'client'}:${p.name}`;
}

function problemOf(err: unknown): never {
  if (err instanceof ReconcileRequestError)
    throw new ApiProblem({
      status: err.status,
      code: err.status === 404 ? 'reconciliation.not_found' : 'reconciliation.invalid',
      detail: err.message,
    });
  if (err instanceof RepairError)
    throw new ApiProblem({ status: 400, code: 'reconciliation.repair_refused', detail: err.message });
  throw err;
}

/** Reconciliations, their runs and discrepancies, repair, and the sync-error flags. */
@Controller()
@UseGuards(ApiGuard)
export class ReconciliationsController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  private get reconciler(): Reconciler {
    const r = this.deps.reconciler;
    if (!r)
      throw new ApiProblem({
        status: 404,
        code: 'reconciliation.none',
        detail: 'this process runs no reconciliations (no reconciliations folder)',
      });
    return r;
  }

  private async run(runId: string): Promise<RunRecord> {
    const run = await this.reconciler.store.getRun(runId);
    if (!run)
      throw new ApiProblem({ status: 404, code: 'reconciliation.run_not_found', detail: `no run ${runId}` });
    return run;
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/reconciliations',
    operationId: 'listReconciliations',
    summary: 'The reconciliations, their schedule, last run and open sync-error flags',
    tag: TAG,
    scope: 'reconciliations:read',
    response: z.object({ items: z.array(infoJson) }),
  })
  async list(): Promise<{ items: Array<z.output<typeof infoJson>> }> {
    const r = this.reconciler;
    const flags = await r.store.listFlags({ open: true, limit: 500 });
    const items: Array<z.output<typeof infoJson>> = [];
    for (const info of r.list()) {
      const [last] = await r.store.listRuns({ reconciliation: info.id, limit: 1 });
      items.push({
        id: info.id,
        ...(info.description ? { description: info.description } : {}),
        schedule: {
          cron: info.schedule.cron,
          timezone: info.schedule.timezone,
          ...(info.schedule.next ? { next: info.schedule.next.toISOString() } : {}),
        },
        period: info.period,
        entities: info.entities,
        ...(last ? { lastRun: runToJson(last) } : {}),
        flags: flags.filter((f) => f.reconciliation === info.id).map(flagToJson),
      });
    }
    return { items };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/reconciliations/{id}/runs',
    operationId: 'startReconciliationRun',
    summary: 'Start a run now',
    description:
      'Answers 202 once the run is recorded as running; read it at `/api/v1/reconciliations/runs/{runId}`.',
    tag: TAG,
    scope: 'reconciliations:run',
    params: reconParams,
    body: startBody,
    response: runJson,
    status: 202,
    errors: [400, 404],
  })
  @HttpCode(202)
  async start(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof startBody>,
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof runJson>> {
    try {
      const { run } = await this.reconciler.start(p.id, {
        trigger: 'api',
        ...(b.period ? { period: b.period } : {}),
      });
      c.objectIds.push(p.id, run.id);
      return runToJson(run);
    } catch (err) {
      return problemOf(err);
    }
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/reconciliations/{id}/runs',
    operationId: 'listReconciliationRuns',
    summary: 'The runs of a reconciliation, newest first',
    tag: TAG,
    scope: 'reconciliations:read',
    params: reconParams,
    query: runsQuery,
    response: z.object({ items: z.array(runJson) }),
    errors: [404],
  })
  async runs(
    @Input('params') p: { id: string },
    @Input('query') q: z.output<typeof runsQuery>,
  ): Promise<{ items: Array<z.output<typeof runJson>> }> {
    if (!this.reconciler.get(p.id))
      throw new ApiProblem({
        status: 404,
        code: 'reconciliation.not_found',
        detail: `no reconciliation ${p.id}`,
      });
    const runs = await this.reconciler.store.listRuns({ reconciliation: p.id, limit: q.limit });
    return { items: runs.map(runToJson) };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/reconciliations/runs/{runId}',
    operationId: 'getReconciliationRun',
    summary: 'One run: status, period, totals three ways per entity, discrepancies per class',
    tag: TAG,
    scope: 'reconciliations:read',
    params: runParams,
    response: runJson,
    errors: [404],
  })
  async getRun(@Input('params') p: { runId: string }): Promise<z.output<typeof runJson>> {
    return runToJson(await this.run(p.runId));
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/reconciliations/runs/{runId}/discrepancies',
    operationId: 'listReconciliationDiscrepancies',
    summary: 'The discrepancies of a run, by class and entity',
    description:
      'Each with its class, the reason the ledger gives and the messages behind it. The identity value, the records and the field values are protected health information: only with the phi:read scope (else the key reads `…` and fields carry only their names).',
    tag: TAG,
    scope: 'reconciliations:read',
    params: runParams,
    query: discrepanciesQuery,
    response: z.object({ items: z.array(discrepancyJson), next: z.string().optional() }),
    errors: [404],
  })
  async discrepancies(
    @Input('params') p: { runId: string },
    @Input('query') q: z.output<typeof discrepanciesQuery>,
    @Ctx() c: ApiContext,
  ): Promise<{ items: Array<z.output<typeof discrepancyJson>>; next?: string }> {
    await this.run(p.runId);
    c.filter = { ...(q.class ? { class: q.class } : {}), ...(q.entity ? { entity: q.entity } : {}) };
    const rows = await this.reconciler.store.listDiscrepancies(p.runId, {
      ...(q.class ? { class: q.class as DiscrepancyRecord['class'] } : {}),
      ...(q.entity ? { entity: q.entity } : {}),
      limit: q.limit,
      ...(q.after ? { after: q.after } : {}),
    });
    const phi = hasScope(c.principal as Principal, 'phi:read');
    if (phi && rows.length > 0) c.contentRead = true;
    const last = rows[rows.length - 1];
    return {
      items: rows.map((d) => discrepancyToJson(d, phi)),
      ...(rows.length === q.limit && last ? { next: last.id } : {}),
    };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/reconciliations/runs/{runId}/repair',
    operationId: 'repairReconciliationRun',
    summary: 'Re-send what the ledger can mend',
    description:
      'Dead-lettered deliveries go back to pending; deliveries the target acknowledged but did not apply are sent again. First call with `dryRun` true (the default) to see what would be done.',
    tag: TAG,
    scope: 'messages:replay',
    params: runParams,
    body: repairBody,
    response: z.object({
      dryRun: z.boolean(),
      actions: z.array(
        z.object({
          discrepancyId: z.string(),
          entity: z.string(),
          class: z.string(),
          action: z.enum(['replayed', 'skipped']),
          deliveryIds: z.array(z.string()),
          messageIds: z.array(z.string()),
          detail: z.string(),
        }),
      ),
    }),
    errors: [400, 404],
  })
  @HttpCode(200)
  async repair(
    @Input('params') p: { runId: string },
    @Input('body') b: z.output<typeof repairBody>,
    @Ctx() c: ApiContext,
  ): Promise<{ dryRun: boolean; actions: Awaited<ReturnType<Reconciler['repair']>> }> {
    await this.run(p.runId);
    try {
      const actions = await this.reconciler.repair(p.runId, {
        dryRun: b.dryRun,
        by: who(c.principal as Principal),
        ...(b.classes ? { classes: b.classes as DiscrepancyRecord['class'][] } : {}),
      });
      c.objectIds.push(p.runId, ...actions.flatMap((a) => a.deliveryIds));
      if (!b.dryRun && actions.some((a) => a.action === 'replayed')) void this.deps.engine.sweep();
      return { dryRun: b.dryRun, actions };
    } catch (err) {
      return problemOf(err);
    }
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/sync-status',
    operationId: 'getSyncStatus',
    summary: 'Whether the systems are in sync: the open sync-error flags',
    description:
      'A PMS reads this before it books: `ok` is false while a reconciliation found a critical class (e.g. results delivered but missing in the EHR) and no operator has acknowledged it.',
    tag: TAG,
    scope: 'reconciliations:read',
    response: z.object({ ok: z.boolean(), flags: z.array(flagJson) }),
  })
  async syncStatus(): Promise<{ ok: boolean; flags: Array<z.output<typeof flagJson>> }> {
    const flags = this.deps.reconciler
      ? await this.deps.reconciler.store.listFlags({ open: true, limit: 500 })
      : [];
    return { ok: flags.length === 0, flags: flags.map(flagToJson) };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/sync-status/flags/{flagId}/acknowledge',
    operationId: 'acknowledgeSyncFlag',
    summary: 'Acknowledge a sync-error flag',
    description:
      'Closes the flag; the channels the reconciliation paused resume when it was its last open flag.',
    tag: TAG,
    scope: 'reconciliations:run',
    params: flagParams,
    body: ackBody,
    response: flagJson,
    errors: [404],
  })
  @HttpCode(200)
  async acknowledge(
    @Input('params') p: { flagId: string },
    @Input('body') b: z.output<typeof ackBody>,
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof flagJson>> {
    const flag = await this.reconciler.acknowledge(p.flagId, who(c.principal as Principal), b.note);
    if (!flag)
      throw new ApiProblem({
        status: 404,
        code: 'reconciliation.flag_not_found',
        detail: `no flag ${p.flagId}`,
      });
    c.objectIds.push(flag.id);
    return flagToJson(flag);
  }
}
