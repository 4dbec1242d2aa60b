import { randomUUID } from 'node:crypto';
import type {
  DiscrepancyClass,
  LedgerKeyCount,
  DiscrepancyRecord,
  NewDiscrepancy,
  NewRun,
  ReconcileStore,
  RunRecord,
  RunStatus,
  RunSummary,
  SyncFlagRecord,
} from '@sinew/reconcile';
import { invalid } from './errors';
import { readTime, type TimeValue } from './rows';
import type { SqlDatabase, SqlValue } from './sql';

/**
 * `ReconcileStore` on the ledger's SQL layer (SQLite or PostgreSQL), reached as
 * `store.reconcile`: the same connection, the same transactions rules as the ledger. Runs and
 * flags are plain rows; what a run found is kept as JSON texts per discrepancy.
 */

interface RunSqlRow {
  id: string;
  reconciliation: string;
  status: string;
  trigger: string;
  period_from: TimeValue | null;
  period_to: TimeValue | null;
  period_label: string;
  started_at: TimeValue;
  finished_at: TimeValue | null;
  summary: string | null;
  error: string | null;
}

interface DiscrepancySqlRow {
  id: string;
  run_id: string;
  entity: string;
  kind: string;
  class: string;
  key: string;
  reason: string;
  message_ids: string;
  fields: string | null;
  source: string | null;
  target: string | null;
  copies: number | string | null;
  repaired_at: TimeValue | null;
  repair: string | null;
}

interface FlagSqlRow {
  id: string;
  reconciliation: string;
  entity: string;
  class: string;
  count: number | string;
  run_id: string;
  raised_at: TimeValue;
  acknowledged_at: TimeValue | null;
  acknowledged_by: string | null;
  note: string | null;
}

const RUN_COLUMNS =
  'id, reconciliation, status, trigger, period_from, period_to, period_label, started_at, finished_at, summary, error';
const DISCREPANCY_COLUMNS =
  'id, run_id, entity, kind, class, key, reason, message_ids, fields, source, target, copies, repaired_at, repair';
const FLAG_COLUMNS =
  'id, reconciliation, entity, class, count, run_id, raised_at, acknowledged_at, acknowledged_by, note';

const FINISHED: ReadonlySet<string> = new Set<RunStatus>(['clean', 'discrepancies', 'failed']);
const TRIGGERS: ReadonlySet<string> = new Set<RunRecord['trigger']>(['schedule', 'cli', 'api', 'catch_up']);
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;
/** Discrepancies in one `addDiscrepancies` call at most (the runner sends batches of 1,000). */
const MAX_BATCH = 5_000;

function limitOf(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw invalid('limit must be a positive integer');
  return Math.min(limit, MAX_LIMIT);
}

function checkDate(value: unknown, name: string): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime()))
    throw invalid(`${name} must be a valid Date`);
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function parsed<T>(text: string | null): T | undefined {
  return text === null ? undefined : (JSON.parse(text) as T);
}

export class SqlReconcileStore implements ReconcileStore {
  constructor(
    private readonly db: SqlDatabase,
    /** Throws when the store is closed. */
    private readonly open: () => void,
  ) {}

  async createRun(run: NewRun): Promise<RunRecord> {
    this.open();
    if (!run.reconciliation) throw invalid('a run needs its reconciliation');
    if (!TRIGGERS.has(run.trigger)) throw invalid(`a run's trigger is schedule, cli, api or catch_up`);
    checkDate(run.startedAt, 'startedAt');
    if (run.periodFrom !== undefined) checkDate(run.periodFrom, 'periodFrom');
    if (run.periodTo !== undefined) checkDate(run.periodTo, 'periodTo');
    const id = randomUUID();
    const t = (d: Date | undefined) => (d === undefined ? null : this.db.time(d));
    await this.db.transaction((tx) =>
      tx.run(
        `INSERT INTO reconcile_run (id, reconciliation, status, trigger, period_from, period_to, period_label, started_at) ` +
          `VALUES (?, ?, 'running', ?, ?, ?, ?, ?)`,
        [
          id,
          run.reconciliation,
          run.trigger,
          t(run.periodFrom),
          t(run.periodTo),
          run.periodLabel,
          this.db.time(run.startedAt),
        ],
      ),
    );
    return {
      id,
      reconciliation: run.reconciliation,
      status: 'running',
      trigger: run.trigger,
      ...(run.periodFrom ? { periodFrom: run.periodFrom } : {}),
      ...(run.periodTo ? { periodTo: run.periodTo } : {}),
      periodLabel: run.periodLabel,
      startedAt: run.startedAt,
    };
  }

  async finishRun(
    id: string,
    outcome: {
      status: Exclude<RunStatus, 'running'>;
      finishedAt: Date;
      summary?: RunSummary;
      error?: string;
    },
  ): Promise<void> {
    this.open();
    if (!FINISHED.has(outcome.status)) throw invalid('a run finishes clean, discrepancies or failed');
    checkDate(outcome.finishedAt, 'finishedAt');
    await this.db.transaction((tx) =>
      tx.run('UPDATE reconcile_run SET status = ?, finished_at = ?, summary = ?, error = ? WHERE id = ?', [
        outcome.status,
        this.db.time(outcome.finishedAt),
        json(outcome.summary),
        outcome.error ?? null,
        id,
      ]),
    );
  }

  async addDiscrepancies(runId: string, rows: NewDiscrepancy[]): Promise<void> {
    this.open();
    if (!Array.isArray(rows)) throw invalid('addDiscrepancies expects an array');
    if (rows.length === 0) return;
    if (rows.length > MAX_BATCH) throw invalid(`at most ${MAX_BATCH} discrepancies at once`);
    await this.db.transaction(async (tx) => {
      const last = await tx.get<{ n: number | string | null }>(
        'SELECT max(ordinal) AS n FROM reconcile_discrepancy WHERE run_id = ?',
        [runId],
      );
      const first = Number(last?.n ?? 0) + 1;
      const values: SqlValue[][] = rows.map((d, i) => [
        randomUUID(),
        runId,
        first + i,
        d.entity,
        d.kind,
        d.class,
        d.key,
        d.reason,
        JSON.stringify(d.messageIds ?? []),
        json(d.fields),
        json(d.source),
        json(d.target),
        d.copies ?? null,
      ]);
      await tx.insertRows({
        table: 'reconcile_discrepancy',
        columns: [
          'id',
          'run_id',
          'ordinal',
          'entity',
          'kind',
          'class',
          'key',
          'reason',
          'message_ids',
          'fields',
          'source',
          'target',
          'copies',
        ],
        pgTypes: [
          'text',
          'text',
          'int4',
          'text',
          'text',
          'text',
          'text',
          'text',
          'text',
          'text',
          'text',
          'text',
          'int4',
        ],
        rows: values,
      });
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    this.open();
    const row = await this.db.get<RunSqlRow>(`SELECT ${RUN_COLUMNS} FROM reconcile_run WHERE id = ?`, [id]);
    return row && toRun(row);
  }

  async listRuns(filter: { reconciliation?: string; limit?: number }): Promise<RunRecord[]> {
    this.open();
    const limit = limitOf(filter.limit);
    const rows =
      filter.reconciliation === undefined
        ? await this.db.all<RunSqlRow>(
            `SELECT ${RUN_COLUMNS} FROM reconcile_run ORDER BY started_at DESC, id DESC LIMIT ?`,
            [limit],
          )
        : await this.db.all<RunSqlRow>(
            `SELECT ${RUN_COLUMNS} FROM reconcile_run WHERE reconciliation = ? ORDER BY started_at DESC, id DESC LIMIT ?`,
            [filter.reconciliation, limit],
          );
    return rows.map(toRun);
  }

  async listDiscrepancies(
    runId: string,
    filter: { class?: DiscrepancyClass; entity?: string; limit?: number; after?: string },
  ): Promise<DiscrepancyRecord[]> {
    this.open();
    const where = ['run_id = ?'];
    const params: SqlValue[] = [runId];
    if (filter.after !== undefined) {
      const after = await this.db.get<{ ordinal: number | string }>(
        'SELECT ordinal FROM reconcile_discrepancy WHERE id = ? AND run_id = ?',
        [filter.after, runId],
      );
      if (!after) throw invalid(`after: ${filter.after} is no discrepancy of run ${runId}`);
      where.push('ordinal > ?');
      params.push(Number(after.ordinal));
    }
    if (filter.class !== undefined) {
      where.push('class = ?');
      params.push(filter.class);
    }
    if (filter.entity !== undefined) {
      where.push('entity = ?');
      params.push(filter.entity);
    }
    params.push(limitOf(filter.limit));
    const rows = await this.db.all<DiscrepancySqlRow>(
      `SELECT ${DISCREPANCY_COLUMNS} FROM reconcile_discrepancy WHERE ${where.join(' AND ')} ORDER BY ordinal LIMIT ?`,
      params,
    );
    return rows.map(toDiscrepancy);
  }

  async markRepaired(
    ids: string[],
    repair: { at: Date } & NonNullable<DiscrepancyRecord['repair']>,
  ): Promise<void> {
    this.open();
    checkDate(repair.at, 'at');
    if (ids.length === 0) return;
    const text = JSON.stringify({ by: repair.by, action: repair.action, detail: repair.detail });
    const at = this.db.time(repair.at);
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        // PostgreSQL takes the list as one text[] parameter (`= ANY(?)`), SQLite as one per id.
        const params: SqlValue[] = this.db.kind === 'postgres' ? [chunk as unknown as SqlValue] : chunk;
        await tx.run(
          `UPDATE reconcile_discrepancy SET repaired_at = ?, repair = ? WHERE ${this.db.inList('id', chunk.length)}`,
          [at, text, ...params],
        );
      }
    });
  }

  async claimSchedule(reconciliation: string, dueAt: Date, owner: string): Promise<boolean> {
    this.open();
    checkDate(dueAt, 'dueAt');
    const claimed = await this.db.transaction((tx) =>
      tx.run(
        'INSERT INTO reconcile_schedule (reconciliation, due_at, owner, claimed_at) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (reconciliation, due_at) DO NOTHING',
        [reconciliation, this.db.time(dueAt), owner, this.db.time(new Date())],
      ),
    );
    return claimed > 0;
  }

  async lastClaimed(reconciliation: string): Promise<Date | undefined> {
    this.open();
    const row = await this.db.get<{ due_at: TimeValue }>(
      'SELECT due_at FROM reconcile_schedule WHERE reconciliation = ? ORDER BY due_at DESC LIMIT 1',
      [reconciliation],
    );
    return row && readTime(row.due_at);
  }

  async raiseFlag(
    flag: Omit<SyncFlagRecord, 'id' | 'acknowledgedAt' | 'acknowledgedBy' | 'note'>,
  ): Promise<SyncFlagRecord> {
    this.open();
    checkDate(flag.raisedAt, 'raisedAt');
    if (!Number.isInteger(flag.count) || flag.count < 0)
      throw invalid('count must be a non-negative integer');
    // One open flag per reconciliation, entity and class (a partial unique index): raising it
    // again keeps when it was first raised and moves it to the latest run's count.
    const row = await this.db.transaction((tx) =>
      tx.get<FlagSqlRow>(
        `INSERT INTO reconcile_flag (id, reconciliation, entity, class, count, run_id, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?) ` +
          `ON CONFLICT (reconciliation, entity, class) WHERE acknowledged_at IS NULL ` +
          `DO UPDATE SET count = excluded.count, run_id = excluded.run_id RETURNING ${FLAG_COLUMNS}`,
        [
          randomUUID(),
          flag.reconciliation,
          flag.entity,
          flag.class,
          flag.count,
          flag.runId,
          this.db.time(flag.raisedAt),
        ],
      ),
    );
    if (!row) throw new Error('raising a sync-error flag returned no row');
    return toFlag(row);
  }

  async listFlags(filter: { open?: boolean; limit?: number }): Promise<SyncFlagRecord[]> {
    this.open();
    const limit = limitOf(filter.limit);
    const where =
      filter.open === true
        ? 'WHERE acknowledged_at IS NULL '
        : filter.open === false
          ? 'WHERE acknowledged_at IS NOT NULL '
          : '';
    const rows = await this.db.all<FlagSqlRow>(
      `SELECT ${FLAG_COLUMNS} FROM reconcile_flag ${where}ORDER BY raised_at DESC, id DESC LIMIT ?`,
      [limit],
    );
    return rows.map(toFlag);
  }

  async acknowledgeFlag(
    id: string,
    by: string,
    at: Date,
    note?: string,
  ): Promise<SyncFlagRecord | undefined> {
    this.open();
    checkDate(at, 'at');
    if (!by) throw invalid('acknowledging a flag needs who acknowledges it');
    const row = await this.db.transaction(async (tx) => {
      const updated = await tx.get<FlagSqlRow>(
        `UPDATE reconcile_flag SET acknowledged_at = ?, acknowledged_by = ?, note = ? ` +
          `WHERE id = ? AND acknowledged_at IS NULL RETURNING ${FLAG_COLUMNS}`,
        [this.db.time(at), by, note ?? null, id],
      );
      // Acknowledged already: it stays as the first acknowledgement left it.
      return updated ?? tx.get<FlagSqlRow>(`SELECT ${FLAG_COLUMNS} FROM reconcile_flag WHERE id = ?`, [id]);
    });
    return row && toFlag(row);
  }

  async deleteRunsBefore(before: Date): Promise<number> {
    this.open();
    checkDate(before, 'before');
    const t = this.db.time(before);
    return this.db.transaction(async (tx) => {
      await tx.run(
        'DELETE FROM reconcile_discrepancy WHERE run_id IN ' +
          '(SELECT id FROM reconcile_run WHERE finished_at IS NOT NULL AND finished_at < ?)',
        [t],
      );
      const runs = await tx.run(
        'DELETE FROM reconcile_run WHERE finished_at IS NOT NULL AND finished_at < ?',
        [t],
      );
      await tx.run('DELETE FROM reconcile_flag WHERE acknowledged_at IS NOT NULL AND acknowledged_at < ?', [
        t,
      ]);
      // Each reconciliation keeps its latest claim: it tells the scheduler what already ran.
      await tx.run(
        'DELETE FROM reconcile_schedule WHERE due_at < ? AND due_at < ' +
          '(SELECT max(s.due_at) FROM reconcile_schedule s WHERE s.reconciliation = reconcile_schedule.reconciliation)',
        [t],
      );
      return runs;
    });
  }

  async countLedgerKeys(query: LedgerKeyCount): Promise<number> {
    this.open();
    if (!Array.isArray(query.channels) || query.channels.length === 0) return 0;
    if (typeof query.key !== 'string' || query.key === '')
      throw invalid('a ledger key count needs the key name');
    if (query.since !== undefined) checkDate(query.since, 'since');
    if (query.until !== undefined) checkDate(query.until, 'until');
    let value = 'k.value';
    for (const step of query.normalise) {
      if (step === 'trim')
        value =
          this.db.kind === 'postgres'
            ? `btrim(${value}, E' \\t\\r\\n')`
            : `trim(${value}, ' ' || char(9) || char(10) || char(13))`;
      else if (step === 'upper' || step === 'lower') value = `${step}(${value})`;
      else throw invalid(`a ledger key count cannot normalise with ${JSON.stringify(step)}`);
    }
    const where = [
      'k.name = ?',
      this.db.inList('k.channel_id', query.channels.length),
      this.db.inList('m.channel_id', query.channels.length),
      `${value} <> ''`,
    ];
    // pg serialises a JS array as a text[] parameter (`= ANY(?::text[])`); the SqlValue type names scalars only.
    const channels: SqlValue[] =
      this.db.kind === 'postgres' ? [[...query.channels] as unknown as SqlValue] : [...query.channels];
    const params: SqlValue[] = [query.key, ...channels, ...channels];
    if (query.since !== undefined) {
      where.push('m.received_at >= ?');
      params.push(this.db.time(query.since));
    }
    if (query.until !== undefined) {
      where.push('m.received_at < ?');
      params.push(this.db.time(query.until));
    }
    const row = await this.db.get<{ n: number | string }>(
      `SELECT count(DISTINCT ${value}) AS n FROM message_key k JOIN message m ON m.id = k.message_id ` +
        `WHERE ${where.join(' AND ')}`,
      params,
    );
    return Number(row?.n ?? 0);
  }
}

function toRun(row: RunSqlRow): RunRecord {
  const summary = parsed<RunSummary>(row.summary);
  return {
    id: row.id,
    reconciliation: row.reconciliation,
    status: row.status as RunStatus,
    trigger: row.trigger as RunRecord['trigger'],
    ...(row.period_from !== null ? { periodFrom: readTime(row.period_from) } : {}),
    ...(row.period_to !== null ? { periodTo: readTime(row.period_to) } : {}),
    periodLabel: row.period_label,
    startedAt: readTime(row.started_at),
    ...(row.finished_at !== null ? { finishedAt: readTime(row.finished_at) } : {}),
    ...(summary !== undefined ? { summary } : {}),
    ...(row.error !== null ? { error: row.error } : {}),
  };
}

function toDiscrepancy(row: DiscrepancySqlRow): DiscrepancyRecord {
  const fields = parsed<DiscrepancyRecord['fields']>(row.fields);
  const source = parsed<DiscrepancyRecord['source']>(row.source);
  const target = parsed<DiscrepancyRecord['target']>(row.target);
  const repair = parsed<DiscrepancyRecord['repair']>(row.repair);
  return {
    id: row.id,
    runId: row.run_id,
    entity: row.entity,
    kind: row.kind as DiscrepancyRecord['kind'],
    class: row.class as DiscrepancyClass,
    key: row.key,
    reason: row.reason,
    messageIds: JSON.parse(row.message_ids) as string[],
    ...(fields !== undefined ? { fields } : {}),
    ...(source !== undefined ? { source } : {}),
    ...(target !== undefined ? { target } : {}),
    ...(row.copies !== null ? { copies: Number(row.copies) } : {}),
    ...(row.repaired_at !== null ? { repairedAt: readTime(row.repaired_at) } : {}),
    ...(repair !== undefined ? { repair } : {}),
  };
}

function toFlag(row: FlagSqlRow): SyncFlagRecord {
  return {
    id: row.id,
    reconciliation: row.reconciliation,
    entity: row.entity,
    class: row.class as DiscrepancyClass,
    count: Number(row.count),
    runId: row.run_id,
    raisedAt: readTime(row.raised_at),
    ...(row.acknowledged_at !== null ? { acknowledgedAt: readTime(row.acknowledged_at) } : {}),
    ...(row.acknowledged_by !== null ? { acknowledgedBy: row.acknowledged_by } : {}),
    ...(row.note !== null ? { note: row.note } : {}),
  };
}
