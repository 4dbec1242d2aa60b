import { Controller, Inject, Res, UseGuards } from '@nestjs/common';
import { hasScope, type Principal } from '@sinew/auth';
import type { Response } from 'express';
import { z } from 'zod';
import { auditEvent } from './audit.controller';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import {
  AUDIT_CSV_HEADER,
  auditCsvRow,
  auditEventJson,
  DEFAULT_EXPORT_LIMIT,
  MAX_EXPORT_LIMIT,
  messageExportChunks,
} from './export-format';
import { filterOf, messageSummary, searchOf, searchQuery } from './messages.controller';
import { content, instant, issue, queryBool, queryInt } from './schemas';

/** Audit events read per query while exporting (the audit search's largest page). */
const AUDIT_PAGE = 1000;

const exportQuery = searchQuery.omit({ limit: true, cursor: true }).extend({
  content: queryBool
    .optional()
    .describe('`true`: each line carries the raw, transformed and ACK bytes (needs phi:read as well)'),
  limit: queryInt(1, MAX_EXPORT_LIMIT)
    .optional()
    .describe(`At most this many messages (default ${DEFAULT_EXPORT_LIMIT}, at most ${MAX_EXPORT_LIMIT})`),
});
type ExportQuery = z.output<typeof exportQuery>;

export const exportedMessage = messageSummary.extend({
  seq: z.number().int(),
  source: z.string(),
  remote_address: z.string().optional(),
  content_type: z.string(),
  duplicate_count: z.number().int(),
  channel_version: z.number().int().optional(),
  issues: z.array(issue),
  content: z
    .object({ raw: content.optional(), ack: content.optional(), transformed: content.optional() })
    .optional()
    .describe('With `content=true`: every stage’s bytes'),
});

const auditExportQuery = z.strictObject({
  format: z.enum(['ndjson', 'csv']).optional().describe('`ndjson` (default) or `csv`'),
  since: instant.optional().describe('At or after (ISO 8601)'),
  until: instant.optional().describe('Before (ISO 8601)'),
});

/** Resolves when the response's buffer has drained or its connection closed. */
function drainedOrClosed(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Writes a stream of chunks to the response, waiting for the socket to drain when its buffer
 * is full (so memory stays flat however long the export), and stopping when the caller hangs
 * up. A failure after the first byte can no longer be a problem answer: the connection is
 * cut, so the caller sees a truncated transfer rather than a short file that looks whole.
 */
async function stream(
  res: Response,
  contentType: string,
  chunks: AsyncIterable<string>,
  onError: (err: unknown) => void,
): Promise<void> {
  res.status(200);
  res.setHeader('content-type', contentType);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  try {
    for await (const chunk of chunks) {
      if (res.destroyed) return;
      if (!res.write(chunk)) await drainedOrClosed(res);
    }
    res.end();
  } catch (err) {
    onError(err);
    res.destroy();
  }
}

/** Exports, streamed: messages by filter (NDJSON) and the audit log (NDJSON or CSV). */
@Controller()
@UseGuards(ApiGuard)
export class ExportController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/messages/export',
    operationId: 'exportMessages',
    summary: 'Export messages by filter, one JSON object per line',
    description:
      'The filters of `GET /api/v1/messages`, newest first, streamed page by page (keyset pagination), up to `limit` messages. Each line is a message’s metadata (business keys only with phi:read); with `content=true` (which needs phi:read as well) also its raw, transformed and ACK bytes.',
    tag: 'Messages',
    scope: 'messages:read',
    query: exportQuery,
    response: exportedMessage,
    produces: 'application/x-ndjson',
  })
  async exportMessages(
    @Input('query') q: ExportQuery,
    @Ctx() c: ApiContext,
    @Res() res: Response,
  ): Promise<void> {
    const principal = c.principal as Principal;
    const phi = hasScope(principal, 'phi:read');
    const { content: withContent, limit, ...filters } = q;
    c.filter = filterOf(filters);
    if (withContent) c.filter.content = 'true';
    if (q.content && !phi)
      throw new ApiProblem({
        status: 403,
        code: 'scope.required',
        detail: 'content=true needs the scope phi:read',
        required_scope: 'phi:read',
      });
    const search = searchOf(filters, principal);
    // Keys (PHI) go out with phi:read, content only when asked: either is a read of PHI.
    if (phi) c.contentRead = true;
    await stream(
      res,
      'application/x-ndjson; charset=utf-8',
      messageExportChunks(this.deps.store, search, limit ?? DEFAULT_EXPORT_LIMIT, {
        keys: phi,
        content: withContent === true,
      }),
      (err) =>
        this.deps.logger.error(
          { err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) },
          'message export failed part-way',
        ),
    );
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/audit/export',
    operationId: 'exportAudit',
    summary: 'Export the audit log, newest first (NDJSON or CSV)',
    description:
      'Streamed. NDJSON: one event per line, as `GET /api/v1/audit` lists them. CSV (RFC 4180): a header row, then one event per row; `object_ids` space-separated, `filter` as JSON.',
    tag: 'Audit',
    scope: 'audit:read',
    query: auditExportQuery,
    response: auditEvent,
    produces: 'application/x-ndjson',
  })
  async exportAudit(
    @Input('query') q: z.output<typeof auditExportQuery>,
    @Ctx() c: ApiContext,
    @Res() res: Response,
  ): Promise<void> {
    c.filter = filterOf(q);
    const csv = q.format === 'csv';
    if (csv) res.setHeader('content-disposition', 'attachment; filename="audit.csv"');
    await stream(
      res,
      csv ? 'text/csv; charset=utf-8; header=present' : 'application/x-ndjson; charset=utf-8',
      this.auditChunks(q, csv),
      (err) =>
        this.deps.logger.error(
          { err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) },
          'audit export failed part-way',
        ),
    );
  }

  private async *auditChunks(q: z.output<typeof auditExportQuery>, csv: boolean): AsyncGenerator<string> {
    if (csv) yield AUDIT_CSV_HEADER;
    let cursor: string | undefined;
    do {
      const page = await this.deps.audit.search({
        ...(q.since ? { since: q.since } : {}),
        ...(q.until ? { until: q.until } : {}),
        limit: AUDIT_PAGE,
        ...(cursor ? { cursor } : {}),
      });
      yield page.items.map((r) => (csv ? auditCsvRow(r) : `${JSON.stringify(auditEventJson(r))}\n`)).join('');
      cursor = page.nextCursor;
    } while (cursor);
  }
}
