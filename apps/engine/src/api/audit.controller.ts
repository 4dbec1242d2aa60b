import { Controller, Inject, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { auditEventJson } from './export-format';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { instant, queryInt } from './schemas';

export const auditEvent = z.object({
  seq: z.number().int(),
  at: z.string(),
  actor: z.string(),
  actor_kind: z.string(),
  via: z.string().optional(),
  action: z.string(),
  object_ids: z.array(z.string()),
  filter: z.record(z.string(), z.string()).optional(),
  from: z.string().optional(),
  outcome: z.string(),
  content_read: z.boolean(),
  hash: z.string(),
  prev_hash: z.string(),
});

const query = z.strictObject({
  actor: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(300).optional().describe('Exact operation, e.g. `GET /api/v1/messages/{id}`'),
  since: instant.optional(),
  until: instant.optional(),
  limit: queryInt(1, 1000).optional().describe('Page size (default 100)'),
  cursor: z.string().max(200).optional(),
});

/** The audit log: searched newest first, and its hash chain checked. */
@Controller()
@UseGuards(ApiGuard)
export class AuditController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/audit',
    operationId: 'searchAudit',
    summary: 'Search the audit log, newest first',
    tag: 'Audit',
    scope: 'audit:read',
    query,
    response: z.object({ items: z.array(auditEvent), next_cursor: z.string().nullable() }),
  })
  async search(@Input('query') q: z.output<typeof query>, @Ctx() c: ApiContext) {
    c.filter = Object.fromEntries(
      Object.entries(q)
        .filter(([k]) => k !== 'cursor' && k !== 'limit')
        .map(([k, v]) => [k, v instanceof Date ? v.toISOString() : String(v)]),
    );
    let page: Awaited<ReturnType<ApiDeps['audit']['search']>>;
    try {
      page = await this.deps.audit.search({
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.action ? { action: q.action } : {}),
        ...(q.since ? { since: q.since } : {}),
        ...(q.until ? { until: q.until } : {}),
        ...(q.limit ? { limit: q.limit } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'access.invalid')
        throw new ApiProblem({
          status: 400,
          code: 'request.invalid',
          detail: 'invalid query',
          invalid_params: [{ name: 'query.cursor', reason: (err as Error).message }],
        });
      throw err;
    }
    return { items: page.items.map(auditEventJson), next_cursor: page.nextCursor ?? null };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/audit/verify',
    operationId: 'verifyAudit',
    summary: 'Check the audit log’s hash chain',
    description:
      'Whole: every row’s hash matches its content and its predecessor’s. Else the first broken row.',
    tag: 'Audit',
    scope: 'audit:read',
    response: z.object({
      ok: z.boolean(),
      rows: z.number().int(),
      first_broken: z.object({ seq: z.number().int(), reason: z.string() }).optional(),
    }),
  })
  async verify() {
    const r = await this.deps.audit.verify();
    return r.ok ? { ok: true, rows: r.rows } : { ok: false, rows: r.rows, first_broken: r.firstBroken };
  }
}
