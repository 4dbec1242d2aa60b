import { Option, type Command } from 'commander';
import { AccessError, AuditLog, type AuditRecord } from '@sinew/auth';
import { parseDuration } from '@sinew/channels';
import { AUDIT_CSV_HEADER, auditCsvRow } from '@sinew/engine-app/api/export-format';
import type { Store } from '@sinew/store';
import { openCliLedger, when } from './history.command';

const LEDGER_OPTION = () =>
  new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL');

const EXAMPLES = `
Examples:
  $ sinew audit verify                    # exit 0 when the chain is whole, 1 naming the first broken row
  $ sinew audit list --limit 20           # the newest events
  $ sinew audit list --actor alice --ndjson > alice.ndjson
  $ sinew audit list --limit 100000 --csv > audit.csv
  $ sinew audit prune --older-than 400d   # delete older events; what remains still verifies

The audit log is append-only and hash-chained in the ledger: each row holds the hash of the row
before it. verify walks the chain and reports a row edited, removed or inserted by hand.`;

/** The audit log as the CLI writes it: every change the CLI makes is recorded with actor `cli`. */
export async function recordCliChange(
  store: Store,
  action: string,
  objectIds: string[],
  outcome: string,
): Promise<void> {
  await new AuditLog(store).append({ actor: 'cli', actorKind: 'cli', action, objectIds, outcome });
}

/**
 * Runs a CLI change of users or keys and records it in the audit log, whatever its outcome.
 * A refused change (`AccessError`) prints its reason and sets exit status 2 (invalid input)
 * or 1 (unknown id, conflict).
 */
export async function auditedChange<T>(
  command: string,
  store: Store,
  objectIds: string[],
  change: () => Promise<T>,
  idsOf: (result: T) => string[] = () => [],
): Promise<{ value: T } | undefined> {
  let result: T;
  try {
    result = await change();
  } catch (error) {
    await recordCliChange(
      store,
      `cli ${command}`,
      objectIds,
      error instanceof AccessError ? error.code : 'error',
    );
    if (!(error instanceof AccessError)) throw error;
    process.stderr.write(`sinew ${command}: ${error.message}\n`);
    process.exitCode = error.code === 'access.invalid' ? 2 : 1;
    return undefined;
  }
  await recordCliChange(store, `cli ${command}`, [...objectIds, ...idsOf(result)], 'ok');
  return { value: result };
}

/** Aligned columns, two spaces apart; the last column is not padded. */
export function columns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [format(header), ...rows.map(format)].join('\n') + '\n';
}

function auditRow(r: AuditRecord): string[] {
  const filter = r.filter
    ? Object.entries(r.filter)
        .map(([k, v]) => `${k}=${v}`)
        .join('&')
    : '';
  return [
    String(r.seq),
    when(r.at),
    r.actor,
    r.actorKind,
    r.via ?? '-',
    r.action,
    r.outcome,
    r.contentRead ? 'yes' : 'no',
    [r.objectIds.join(','), filter].filter(Boolean).join(' ') || '-',
  ];
}

function positive(text: string, what: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(text)) {
    process.stderr.write(`sinew audit: ${what} must be a positive integer, not ${text}\n`);
    process.exit(2);
  }
  return Number(text);
}

export function registerAudit(program: Command): void {
  const audit = program
    .command('audit')
    .description('check, list and prune the tamper-evident audit log')
    .addHelpText('after', EXAMPLES);

  audit
    .command('verify')
    .description('walk the hash chain; exit 1 naming the first row edited, removed or inserted')
    .addOption(LEDGER_OPTION())
    .action(async (options: { data?: string }) => {
      const { store } = await openCliLedger('audit verify', options.data);
      try {
        const result = await new AuditLog(store).verify();
        if (result.ok) {
          process.stdout.write(
            `audit chain whole: ${result.rows} rows, head row ${result.head.seq}, hash ${result.head.hash}\n`,
          );
          return;
        }
        process.stderr.write(
          `sinew audit verify: the chain is broken at row ${result.firstBroken.seq}: ${result.firstBroken.reason} ` +
            `(${result.rows} rows before it verified)\n`,
        );
        process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  audit
    .command('list')
    .description('the newest audit events first')
    .addOption(new Option('--limit <n>', 'at most this many').default('50'))
    .addOption(new Option('--actor <name>', 'only this actor (username, key name, cli)'))
    .addOption(
      new Option('--action <action>', 'only this action (GET /api/v1/messages/{id}, cli keys create …)'),
    )
    .addOption(new Option('--ndjson', 'one JSON object per line (for export)'))
    .addOption(
      new Option(
        '--csv',
        'CSV (RFC 4180) with a header row, as GET /api/v1/audit/export?format=csv',
      ).conflicts('ndjson'),
    )
    .addOption(LEDGER_OPTION())
    .action(
      async (options: {
        limit: string;
        actor?: string;
        action?: string;
        ndjson?: boolean;
        csv?: boolean;
        data?: string;
      }) => {
        let remaining = positive(options.limit, '--limit');
        const { store } = await openCliLedger('audit list', options.data);
        try {
          const log = new AuditLog(store);
          const rows: AuditRecord[] = [];
          let cursor: string | undefined;
          do {
            const page = await log.search({
              ...(options.actor !== undefined ? { actor: options.actor } : {}),
              ...(options.action !== undefined ? { action: options.action } : {}),
              limit: Math.min(remaining, 1000),
              ...(cursor !== undefined ? { cursor } : {}),
            });
            rows.push(...page.items);
            remaining -= page.items.length;
            cursor = page.nextCursor;
          } while (cursor !== undefined && remaining > 0);
          if (options.ndjson) {
            for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
            return;
          }
          if (options.csv) {
            process.stdout.write(AUDIT_CSV_HEADER + rows.map(auditCsvRow).join(''));
            return;
          }
          process.stdout.write(
            columns(
              ['SEQ', 'AT', 'ACTOR', 'KIND', 'VIA', 'ACTION', 'OUTCOME', 'CONTENT', 'OBJECTS'],
              rows.map(auditRow),
            ),
          );
        } finally {
          await store.close();
        }
      },
    );

  audit
    .command('prune')
    .description(
      'delete events older than a duration, keeping the rest verifiable (refused on a broken chain)',
    )
    .requiredOption('--older-than <duration>', 'e.g. 400d')
    .addOption(LEDGER_OPTION())
    .action(async (options: { olderThan: string; data?: string }) => {
      const ms = parseDuration(options.olderThan);
      if (ms === undefined || ms <= 0) {
        process.stderr.write(`sinew audit prune: not a duration: ${options.olderThan} (e.g. 400d, 12h)\n`);
        process.exit(2);
      }
      const { store } = await openCliLedger('audit prune', options.data);
      try {
        const result = await auditedChange('audit prune', store, [], () =>
          new AuditLog(store).prune(new Date(Date.now() - ms)),
        );
        if (result) {
          const { pruned, baseSeq } = result.value;
          process.stdout.write(`pruned ${pruned} audit events; the chain now starts after row ${baseSeq}\n`);
        }
      } finally {
        await store.close();
      }
    });
}
