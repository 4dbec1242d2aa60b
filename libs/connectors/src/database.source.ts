import { z } from 'zod';
import { errorCode, millis } from './common';
import type { IngestReply, Source, SourceContext, SourceCursor, SourceDefinition } from './connector';
import {
  classifyDatabaseError,
  databaseConnectionFields,
  IDENTIFIER,
  openDatabase,
  redactUrl,
  type BindValue,
  type DatabaseClient,
  type Row,
} from './database.client';

const identifier = (what: string) =>
  z.string().regex(IDENTIFIER, { message: `${what}: letters, digits and _ only (optionally schema.name)` });

export const databaseSourceConfig = z
  .strictObject({
    ...databaseConnectionFields,
    table: identifier('table')
      .optional()
      .describe('The table to poll (`schema.table` allowed). Give either `table` or `query`.'),
    query: z
      .string()
      .min(1)
      .optional()
      .describe(
        'A SELECT whose rows are polled instead of a table (joins, a view, chosen columns). It is wrapped as a ' +
          'subquery, so it must return the `mark_column` and `key_column`; it takes no parameters.',
      ),
    mark_column: identifier('mark_column').describe(
      'The high-water mark: a column that grows with each new or changed row (an increasing id, or an ' +
        '`updated_at` time set on every change). Rows are read in (`mark_column`, `key_column`) order, from just ' +
        'after the last row committed. Rows whose mark is NULL are not read.',
    ),
    key_column: identifier('key_column').describe(
      'A column unique per row (the primary key): orders rows that share a mark, so rows with the same ' +
        '`updated_at` are neither skipped nor read twice.',
    ),
    group_column: identifier('group_column')
      .optional()
      .describe(
        'Rows read one after another with the same value here (e.g. the lines of one order, with `mark_column` ' +
          'ordering them together) become one message `{ "group": value, "rows": [...] }`. A group is never ' +
          'split across messages: a batch that ends inside one is read further.',
      ),
    content_column: identifier('content_column')
      .optional()
      .describe(
        'Take the message from this column (e.g. HL7 v2 text kept in a table) instead of the row as JSON.',
      ),
    content_type: z
      .enum(['json', 'hl7v2', 'fhir', 'text'])
      .default('json')
      .describe(
        'What a message is: the row (or group) as JSON by default; with `content_column`, what the column holds.',
      ),
    batch_size: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(100)
      .describe('Rows read per query; a full batch is followed by the next at once.'),
    poll_interval_ms: millis(
      5_000,
      'Pause between two polls once the rows are caught up, and after a failed poll.',
    ),
  })
  .refine((c) => (c.table === undefined) !== (c.query === undefined), {
    message: 'give either table or query (exactly one)',
    path: ['table'],
  })
  .refine((c) => c.content_column !== undefined || c.content_type === 'json', {
    message: 'content_type other than json needs content_column',
    path: ['content_type'],
  })
  .refine((c) => c.content_column === undefined || c.group_column === undefined, {
    message: 'group_column and content_column cannot be combined',
    path: ['group_column'],
  });
export type DatabaseSourceConfig = z.output<typeof databaseSourceConfig>;

/** The ledger cursor of a database source: the mark and key of the last row committed. */
export interface RowMark {
  mark: string | number;
  key: string | number;
}

/** Parses a cursor text; undefined (read from the start) when there is none. */
export function parseRowMark(text: string | undefined): RowMark | undefined {
  if (text === undefined) return undefined;
  const value = JSON.parse(text) as Partial<RowMark>;
  const ok = (v: unknown) => typeof v === 'string' || typeof v === 'number';
  if (!ok(value.mark) || !ok(value.key))
    throw new Error('database source: the stored cursor is not a row mark');
  return { mark: value.mark as string | number, key: value.key as string | number };
}

/** A column value as a mark: numbers stay numbers, everything else its text. */
function markValue(v: unknown, column: string): string | number {
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v === null || v === undefined) throw new Error(`database source: column ${column} is missing or NULL`);
  return String(v);
}

/** A row as JSON: binary values as base64, big integers as text. */
function jsonRow(row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    out[k] = Buffer.isBuffer(v) ? v.toString('base64') : typeof v === 'bigint' ? v.toString() : v;
  }
  return out;
}

interface Pending {
  body: Buffer;
  cursor: RowMark;
}

/**
 * Polls a table or query in (mark, key) order from the ledger's cursor, one batch at a time.
 * Each row (or group of rows) is handed over with the cursor just past it, so the message and
 * the cursor are committed together.
 */
export class DatabaseSource implements Source {
  private readonly db: DatabaseClient;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = true;
  private failures = 0;

  constructor(
    private readonly config: DatabaseSourceConfig,
    private readonly context: SourceContext,
  ) {
    this.db = openDatabase(config);
  }

  private get cursor(): SourceCursor {
    const cursor = this.context.cursor;
    if (!cursor) throw new Error('database source: the engine keeps no ledger cursor for this channel');
    return cursor;
  }

  async start(): Promise<void> {
    void this.cursor;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const polling = this.polling;
    if (polling) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([polling, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    }
    await this.db.close().catch(() => undefined);
  }

  describe(): string {
    return `${redactUrl(this.config.url)} (${this.config.table ?? 'query'})`;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll()
        .then((more) => {
          this.failures = 0;
          return more ? 0 : this.config.poll_interval_ms;
        })
        .catch((err: unknown) => {
          this.failures++;
          const { code } = classifyDatabaseError(err);
          this.context.logger.warn(
            {
              channelId: this.context.channelId,
              error: code === 'ERROR' ? errorCode(err) : code,
              failures: this.failures,
            },
            'database source: polling failed; trying again',
          );
          return Math.min(this.config.poll_interval_ms * 2 ** Math.min(this.failures - 1, 5), 60_000);
        })
        .then((next) => {
          this.polling = undefined;
          this.schedule(next);
        });
    }, delayMs);
  }

  /** The statement reading the next `limit` rows after `after` (none: from the start). */
  private statement(after: RowMark | undefined, limit: number): { sql: string; params: BindValue[] } {
    const q = (id: string) => this.db.quote(id);
    const from = this.config.table !== undefined ? q(this.config.table) : `(${this.config.query}) sinew_rows`;
    const mark = q(this.config.mark_column);
    const key = q(this.config.key_column);
    const where = after ? `WHERE (${mark} > ? OR (${mark} = ? AND ${key} > ?))` : `WHERE ${mark} IS NOT NULL`;
    return {
      sql: `SELECT * FROM ${from} ${where} ORDER BY ${mark}, ${key} LIMIT ${limit}`,
      params: after ? [after.mark, after.mark, after.key] : [],
    };
  }

  /** One batch; true when it was full (more rows may be waiting). */
  private async poll(): Promise<boolean> {
    const after = parseRowMark(await this.cursor.get());
    let limit = this.config.batch_size;
    let rows: Row[];
    let messages: Pending[];
    let full: boolean;
    for (;;) {
      const { sql, params } = this.statement(after, limit);
      rows = await this.db.query(sql, params);
      full = rows.length >= limit;
      messages = this.messages(rows, full);
      // A full batch that is one unfinished group: read further until the group ends.
      if (messages.length > 0 || !full) break;
      limit *= 2;
    }
    for (const message of messages) {
      if (this.stopped) return false;
      const reply = await this.ingest(message);
      if (!reply) return false;
    }
    return full;
  }

  /** The batch's messages in order; with grouping, a trailing group of a full batch waits for the next. */
  private messages(rows: Row[], full: boolean): Pending[] {
    const c = this.config;
    const cursorOf = (row: Row): RowMark => ({
      mark: markValue(row[c.mark_column], c.mark_column),
      key: markValue(row[c.key_column], c.key_column),
    });
    const group = c.group_column;
    if (group === undefined) {
      return rows.map((row) => ({
        body:
          c.content_column !== undefined
            ? contentOf(row[c.content_column], c.content_column)
            : Buffer.from(JSON.stringify(jsonRow(row))),
        cursor: cursorOf(row),
      }));
    }
    const groups: Row[][] = [];
    for (const row of rows) {
      const last = groups[groups.length - 1];
      if (last && sameValue(last[0]?.[group], row[group])) last.push(row);
      else groups.push([row]);
    }
    // A group at the end of a full batch may go on in the next one: it waits, and is read again
    // from its start then (a batch that is one group alone is read again, larger).
    if (full) groups.pop();
    return groups.map((g) => ({
      body: Buffer.from(JSON.stringify({ group: jsonRow({ v: g[0]?.[group] }).v, rows: g.map(jsonRow) })),
      cursor: cursorOf(g[g.length - 1] as Row),
    }));
  }

  /** Hands one message over with its cursor; undefined when the ledger did not take it (stop this poll). */
  private async ingest(message: Pending): Promise<IngestReply | undefined> {
    const cursor = JSON.stringify(message.cursor);
    let reply: IngestReply;
    try {
      reply = await this.context.ingest({
        body: message.body,
        contentType: this.config.content_type,
        source: 'database',
        remoteAddress: redactUrl(this.config.url),
        cursor,
      });
    } catch (err) {
      this.context.logger.error(
        { channelId: this.context.channelId, error: errorCode(err) },
        'database source: ingest failed; the row is read again on the next poll',
      );
      return undefined;
    }
    switch (reply.disposition.kind) {
      case 'accepted':
        return reply;
      case 'unavailable':
        return undefined;
      default:
        // Refused for good (or already stored): move past it, so it does not block the rows after it.
        this.context.logger.warn(
          { channelId: this.context.channelId, disposition: reply.disposition.kind },
          'database source: a row was not accepted by the channel; moving past it',
        );
        await this.cursor.set(cursor);
        return reply;
    }
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return a === b || (a != null && b != null && String(a) === String(b));
}

function contentOf(value: unknown, column: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value === null || value === undefined) return Buffer.alloc(0);
  if (typeof value === 'object') return Buffer.from(JSON.stringify(value));
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return Buffer.from(String(value));
  throw new Error(`database source: column ${column} holds an unsupported value`);
}

export const databaseSource: SourceDefinition<DatabaseSourceConfig> = {
  kind: 'source',
  type: 'database',
  produces: (config) => [config.content_type],
  description:
    'Polls a table or a query of PostgreSQL, MySQL/MariaDB or SQLite for new and changed rows, using a ' +
    'high-water mark: rows are read in (`mark_column`, `key_column`) order from just after the last row ' +
    'committed, `batch_size` at a time. Each row becomes a message (the row as a JSON object, or the value of ' +
    '`content_column`), or rows sharing `group_column` become one. A row whose `updated_at` moves is read ' +
    'again, once per change. Statements are parameterised; the password stays out of logs. When the database ' +
    'is down, the poll is tried again with a growing pause (up to a minute).',
  guarantee:
    'At least once, and in fact once per row change: the mark advances in the same ledger transaction as the ' +
    'message made from the row, so a crash or stop at any point neither skips nor repeats rows. A row refused ' +
    'by the channel is logged (without content) and passed over. A row inserted with a mark lower than one ' +
    'already read (a long transaction committing late with an earlier time or id) is not seen: choose a mark ' +
    'the database sets at commit, or poll a little behind.',
  configSchema: databaseSourceConfig,
  example: {
    url: 'postgres://sinew@pms-db:5432/pms',
    password_file: '/run/secrets/pms-db',
    table: 'public.lab_orders',
    mark_column: 'updated_at',
    key_column: 'id',
    poll_interval_ms: 5000,
  },
  create: (config, context) => new DatabaseSource(config, context),
};
