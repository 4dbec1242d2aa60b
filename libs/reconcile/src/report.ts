import {
  DISCREPANCY_CLASSES,
  type DifferenceKind,
  type DiscrepancyClass,
  type DiscrepancyRecord,
  type RawValue,
  type RunRecord,
  type SideRecord,
} from './types';

export const REPORT_FORMATS = ['table', 'json', 'csv', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportOptions {
  /** The console's address: each message id links to `${consoleUrl}/messages/${id}` (HTML). */
  consoleUrl?: string;
}

/** What each class means, in a few words (report headings). */
export const CLASS_TITLES: Record<DiscrepancyClass, string> = {
  never_received: 'Never received by Sinew',
  filtered: 'Filtered out by a channel',
  rejected: 'Rejected by validation',
  errored: 'Failed in the pipeline',
  pending: 'Still on its way',
  dead_lettered: 'Delivery gave up (dead-lettered)',
  delivered_not_applied: 'Delivered but not applied in the target',
  changed_after_delivery: 'Changed at the source after its last message',
  unexplained: 'Not explained (no ledger for this entity)',
  target_only: 'Only in the target',
  duplicate: 'Held more than once',
};

/** What operations staff do about each class, in plain language. */
export const CLASS_GUIDANCE: Record<DiscrepancyClass, string> = {
  never_received:
    'The source system holds these records, but no message about them ever reached Sinew. Check that the source system’s interface is switched on and sending; then save the record again in the source system so that it sends a message. If it keeps happening, ask the source system’s vendor why no message was sent.',
  filtered:
    'Sinew received a message for these records, but a channel filter set it aside on purpose. If the record should have reached the target, ask whoever maintains the channels to review the filter named in the reason.',
  rejected:
    'Sinew refused the message because it failed a validation rule (the reason names it). Correct the record in the source system (usually a missing or badly written value) and save it again so that a new message is sent.',
  errored:
    'The message failed while Sinew processed it (for example a mapping error). Give the message id to whoever maintains the channels; once the cause is fixed they can reprocess it from the console.',
  pending:
    'The message is still on its way: queued, being retried or parked. Usually nothing needs doing; if it is still pending at the next run, check the destination on the console (it may be down or paused).',
  dead_lettered:
    'Sinew gave up delivering the message after all its retries; the reason shows the target’s last answer. Fix what that answer points to (the target down, a refused value), then use Repair (`sinew reconcile repair`, or the console’s button) to send the message again.',
  delivered_not_applied:
    'The target acknowledged the message, yet does not hold the record or holds other values: it was deleted, merged or edited there, or accepted without being applied. Check the record in the target; Repair sends the message again.',
  changed_after_delivery:
    'The record changed in the source system after its last message, and no new message was sent (a change saved without notifying). Save the record again in the source system so that it sends an update, and report the missing update to the source system’s vendor.',
  unexplained:
    'The record is missing in the target or differs there, and this entity has no ledger side in the reconciliation file, so Sinew did not look for the messages behind it: it may never have been sent, or been rejected, or been delivered and then changed. Look the record up in the console’s message search by its identifier; to have future runs explain it, add a `ledger:` (the channels that carry the entity and the business key) to the entity.',
  target_only:
    'The target holds records the source system does not: created directly in the target, or deleted or merged in the source. Decide which system is right and correct the other.',
  duplicate:
    'The same identifier is held by more than one record in one system. Merge or correct the duplicates in that system; until then the comparison uses the first record read.',
};

const KIND_LABELS: Record<DifferenceKind, string> = {
  missing_in_target: 'missing in the target',
  missing_in_source: 'missing in the source',
  field_mismatch: 'fields differ',
  duplicate_in_source: 'duplicate in the source',
  duplicate_in_target: 'duplicate in the target',
};

/** A run as the API returns it (RunJson). */
export function runJson(run: RunRecord): Record<string, unknown> {
  return {
    id: run.id,
    reconciliation: run.reconciliation,
    status: run.status,
    trigger: run.trigger,
    period: {
      ...(run.periodFrom ? { from: run.periodFrom.toISOString() } : {}),
      ...(run.periodTo ? { to: run.periodTo.toISOString() } : {}),
      label: run.periodLabel,
    },
    startedAt: run.startedAt.toISOString(),
    ...(run.finishedAt ? { finishedAt: run.finishedAt.toISOString() } : {}),
    ...(run.summary ? { summary: run.summary } : {}),
    ...(run.error !== undefined ? { error: run.error } : {}),
  };
}

/** A discrepancy as the API returns it (DiscrepancyJson), with every value. */
export function discrepancyJson(d: DiscrepancyRecord): Record<string, unknown> {
  return {
    id: d.id,
    runId: d.runId,
    entity: d.entity,
    kind: d.kind,
    class: d.class,
    key: d.key,
    reason: d.reason,
    messageIds: d.messageIds,
    ...(d.fields ? { fields: d.fields } : {}),
    ...(d.source ? { source: d.source } : {}),
    ...(d.target ? { target: d.target } : {}),
    ...(d.copies !== undefined ? { copies: d.copies } : {}),
    ...(d.repairedAt ? { repairedAt: d.repairedAt.toISOString() } : {}),
    ...(d.repair ? { repair: d.repair } : {}),
  };
}

async function collect<T>(items: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of items) out.push(x);
  return out;
}

function byClass(items: readonly DiscrepancyRecord[]): Array<[DiscrepancyClass, DiscrepancyRecord[]]> {
  const groups = new Map<DiscrepancyClass, DiscrepancyRecord[]>();
  for (const d of items) {
    let list = groups.get(d.class);
    if (!list) groups.set(d.class, (list = []));
    list.push(d);
  }
  return DISCREPANCY_CLASSES.filter((c) => groups.has(c)).map((c) => [
    c,
    groups.get(c) as DiscrepancyRecord[],
  ]);
}

function valueText(v: RawValue | undefined): string {
  if (v === null || v === undefined || v === '') return '—';
  return String(v);
}

function periodText(run: RunRecord): string {
  if (!run.periodFrom && !run.periodTo) return run.periodLabel;
  return `${run.periodLabel} (${run.periodFrom?.toISOString() ?? '…'} to ${run.periodTo?.toISOString() ?? '…'})`;
}

interface TotalRow {
  entity: string;
  status: string;
  source: string;
  ledger: string;
  target: string;
  matched: string;
  discrepancies: string;
}

function totals(run: RunRecord): TotalRow[] {
  const rows: TotalRow[] = [];
  for (const e of run.summary?.entities ?? []) {
    const statuses = [...new Set([...Object.keys(e.counts.source), ...Object.keys(e.counts.target)])].sort();
    const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    const found = Object.values(e.byClass).reduce((a, b) => a + (b ?? 0), 0);
    const ledger = e.counts.ledger === undefined ? '—' : String(e.counts.ledger);
    const withStatus = statuses.some((s) => s !== '');
    rows.push({
      entity: e.name,
      status: withStatus ? 'all' : '',
      source: String(sum(e.counts.source)),
      ledger,
      target: String(sum(e.counts.target)),
      matched: String(e.matched),
      discrepancies: String(found),
    });
    if (withStatus)
      for (const s of statuses)
        rows.push({
          entity: '',
          status: s || '(none)',
          source: String(e.counts.source[s] ?? 0),
          ledger: '',
          target: String(e.counts.target[s] ?? 0),
          matched: '',
          discrepancies: '',
        });
  }
  return rows;
}

function columns(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function recordFields(rec: SideRecord | undefined): string {
  if (!rec) return '';
  return Object.entries(rec.fields)
    .map(([k, v]) => `${k}=${valueText(v)}`)
    .join(', ');
}

function table(run: RunRecord, items: readonly DiscrepancyRecord[]): string {
  const out = [
    `Reconciliation ${run.reconciliation} · run ${run.id}`,
    `Period: ${periodText(run)}`,
    `Status: ${run.status} · started ${run.startedAt.toISOString()}${run.finishedAt ? ` · finished ${run.finishedAt.toISOString()}` : ''}`,
  ];
  if (run.error) out.push(`Error: ${run.error}`);
  out.push('', 'Totals');
  const t = totals(run);
  out.push(
    ...columns(
      ['entity', 'status', 'source', 'ledger', 'target', 'matched', 'discrepancies'],
      t.map((r) => [r.entity, r.status, r.source, r.ledger, r.target, r.matched, r.discrepancies]),
    ).map((l) => `  ${l}`),
  );
  if (run.summary?.alerts.length) out.push('', `Alerts: ${run.summary.alerts.join(', ')}`);
  const groups = byClass(items);
  if (groups.length === 0) {
    out.push('', 'No discrepancies.');
    return `${out.join('\n')}\n`;
  }
  for (const [cls, list] of groups) {
    out.push('', `${cls}: ${CLASS_TITLES[cls]} (${list.length})`);
    for (const d of list) {
      out.push(
        `  ${d.entity} ${d.key}: ${KIND_LABELS[d.kind]}${d.copies ? ` (${d.copies} copies)` : ''} — ${d.reason}`,
      );
      for (const f of d.fields ?? [])
        out.push(
          `    ${f.field}: ${valueText(f.source)} ≠ ${valueText(f.target)}${f.note ? ` (${f.note})` : ''}`,
        );
      if (d.messageIds.length) out.push(`    messages: ${d.messageIds.join(', ')}`);
      if (d.repair) out.push(`    repair: ${d.repair.action} by ${d.repair.by}: ${d.repair.detail}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** A CSV cell (RFC 4180); text a spreadsheet would run as a formula is prefixed with `'`. */
function cell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function csv(run: RunRecord, items: readonly DiscrepancyRecord[]): string {
  const header = [
    'run',
    'reconciliation',
    'entity',
    'class',
    'kind',
    'key',
    'fields',
    'source',
    'target',
    'copies',
    'reason',
    'message_ids',
  ];
  const rows = items.map((d) => {
    const differs = d.fields ?? [];
    return [
      run.id,
      run.reconciliation,
      d.entity,
      d.class,
      d.kind,
      d.key,
      differs.map((f) => f.field).join('; '),
      differs.length
        ? differs.map((f) => `${f.field}=${valueText(f.source)}`).join('; ')
        : recordFields(d.source),
      differs.length
        ? differs.map((f) => `${f.field}=${valueText(f.target)}`).join('; ')
        : recordFields(d.target),
      d.copies === undefined ? '' : String(d.copies),
      d.reason,
      d.messageIds.join(' '),
    ];
  });
  return [header, ...rows].map((r) => `${r.map(cell).join(',')}\r\n`).join('');
}

/** Text safe inside HTML content and double-quoted attributes. */
export function escapeHtml(v: string): string {
  return v.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

const CSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.2em;margin:32px 0 6px}
.meta{color:#4a5360;margin:0 0 16px}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0}
th,td{border:1px solid #d5d9e0;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.guide{background:#fff8e1;border-left:4px solid #f0b429;padding:8px 12px;margin:6px 0 12px}
.d{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:10px 14px;margin:10px 0}
.d h3{font-size:1em;margin:0 0 4px}.reason{margin:4px 0}.muted{color:#5b6573}
.status-clean{color:#1a7f37}.status-discrepancies{color:#b35900}.status-failed{color:#c62828}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.92em}
`;

function html(run: RunRecord, items: readonly DiscrepancyRecord[], options: ReportOptions): string {
  const e = escapeHtml;
  const consoleUrl = options.consoleUrl?.replace(/\/+$/, '');
  const message = (id: string) =>
    consoleUrl
      ? `<a href="${e(`${consoleUrl}/messages/${encodeURIComponent(id)}`)}"><code>${e(id)}</code></a>`
      : `<code>${e(id)}</code>`;
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${e(`Reconciliation ${run.reconciliation} · ${run.periodLabel}`)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body><main>',
    `<h1>Reconciliation ${e(run.reconciliation)}</h1>`,
    `<p class="meta">Period: ${e(periodText(run))}<br>Run <code>${e(run.id)}</code> · <span class="status-${e(run.status)}">${e(run.status)}</span> · started ${e(run.startedAt.toISOString())}${run.finishedAt ? ` · finished ${e(run.finishedAt.toISOString())}` : ''}</p>`,
  ];
  if (run.error) out.push(`<p class="status-failed">The run did not complete: ${e(run.error)}</p>`);
  out.push(
    '<h2>Totals</h2>',
    '<table>',
    '<thead><tr><th>Entity</th><th>Status</th><th>Source</th><th>Sinew (ledger)</th><th>Target</th><th>Matched</th><th>Discrepancies</th></tr></thead>',
    '<tbody>',
  );
  for (const r of totals(run))
    out.push(
      `<tr><td>${e(r.entity)}</td><td>${e(r.status)}</td><td class="n">${e(r.source)}</td><td class="n">${e(r.ledger)}</td><td class="n">${e(r.target)}</td><td class="n">${e(r.matched)}</td><td class="n">${e(r.discrepancies)}</td></tr>`,
    );
  out.push('</tbody></table>');
  if (run.summary?.alerts.length)
    out.push(`<p>Alerts raised: ${run.summary.alerts.map((a) => `<code>${e(a)}</code>`).join(', ')}</p>`);
  const groups = byClass(items);
  if (groups.length === 0) out.push('<p>No discrepancies: every record matched.</p>');
  else {
    out.push('<h2>Discrepancies by class</h2>', '<ul>');
    for (const [cls, list] of groups)
      out.push(`<li><a href="#${e(cls)}">${e(CLASS_TITLES[cls])}</a>: ${list.length}</li>`);
    out.push('</ul>');
  }
  for (const [cls, list] of groups) {
    out.push(
      `<section id="${e(cls)}">`,
      `<h2>${e(CLASS_TITLES[cls])} <span class="muted">(<code>${e(cls)}</code>, ${list.length})</span></h2>`,
      `<p class="guide"><strong>What to do:</strong> ${e(CLASS_GUIDANCE[cls])}</p>`,
    );
    for (const d of list) {
      out.push(
        '<div class="d">',
        `<h3>${e(d.entity)} <code>${e(d.key)}</code> · ${e(KIND_LABELS[d.kind])}${d.copies ? ` (${d.copies} copies)` : ''}</h3>`,
        `<p class="reason">${e(d.reason)}</p>`,
      );
      if (d.fields?.length) {
        out.push(
          '<table><thead><tr><th>Field</th><th>Source</th><th>Target</th><th>Compared as</th></tr></thead><tbody>',
        );
        for (const f of d.fields)
          out.push(
            `<tr><td>${e(f.field)}</td><td>${e(valueText(f.source))}</td><td>${e(valueText(f.target))}</td><td class="muted">${e(`${valueText(f.sourceNormalised)} / ${valueText(f.targetNormalised)}`)}${f.note ? `<br>${e(f.note)}` : ''}</td></tr>`,
          );
        out.push('</tbody></table>');
      } else {
        const rec = d.source ?? d.target;
        const names = Object.keys(rec?.fields ?? {});
        if (rec && names.length) {
          out.push(
            `<table><thead><tr><th>Field</th><th>${d.source ? 'Source' : 'Target'}</th></tr></thead><tbody>`,
          );
          for (const n of names) out.push(`<tr><td>${e(n)}</td><td>${e(valueText(rec.fields[n]))}</td></tr>`);
          out.push('</tbody></table>');
        }
      }
      if (d.messageIds.length) out.push(`<p>Messages: ${d.messageIds.map(message).join(', ')}</p>`);
      else out.push('<p class="muted">No message for this record in the ledger.</p>');
      if (d.repair)
        out.push(
          `<p class="muted">Repair: ${e(d.repair.action)} by ${e(d.repair.by)}${d.repairedAt ? ` at ${e(d.repairedAt.toISOString())}` : ''}: ${e(d.repair.detail)}</p>`,
        );
      out.push('</div>');
    }
    out.push('</section>');
  }
  out.push('</main></body>', '</html>');
  return `${out.join('\n')}\n`;
}

/**
 * A run as a report: `table` (terminal text: totals per entity three ways, then the discrepancies
 * grouped by class), `json` (`{ run, discrepancies }` in the API's shapes), `csv` (one row per
 * discrepancy) or `html` (one self-contained file for operations staff: no scripts, no external
 * resources; message ids link to the console when `consoleUrl` is given).
 */
export async function renderReport(
  run: RunRecord,
  discrepancies: AsyncIterable<DiscrepancyRecord> | Iterable<DiscrepancyRecord>,
  format: ReportFormat,
  options: ReportOptions = {},
): Promise<string> {
  const items = await collect(discrepancies);
  switch (format) {
    case 'json':
      return `${JSON.stringify({ run: runJson(run), discrepancies: items.map(discrepancyJson) }, null, 2)}\n`;
    case 'csv':
      return csv(run, items);
    case 'html':
      return html(run, items, options);
    case 'table':
      return table(run, items);
  }
}
