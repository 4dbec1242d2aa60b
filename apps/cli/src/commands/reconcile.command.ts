import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { EnvironmentError, loadEnvironment, type ChannelEnvironment } from '@sinew/channels';
import {
  DISCREPANCY_CLASSES,
  FolderReconciler,
  REPAIRABLE_CLASSES,
  REPORT_FORMATS,
  ReconcileRequestError,
  RepairError,
  loadReconciliationFolder,
  reconcileParts,
  renderReport,
  type DiscrepancyClass,
  type DiscrepancyRecord,
  type ReconcileStore,
  type ReportFormat,
  type RunRecord,
} from '@sinew/reconcile';
import { openCliLedger } from './history.command';

const EXAMPLES = `
Examples:
  $ sinew reconcile run demo                          # yesterday (the file's period), a table
  $ sinew reconcile run demo --period 2026-12-01..2026-12-07 --format html --output report.html
  $ sinew reconcile list                              # each reconciliation and its last run
  $ sinew reconcile show 0193…                        # a stored run again
  $ sinew reconcile repair 0193… --dry-run            # what a repair would re-send
  $ sinew reconcile flags                             # open sync-error flags
  $ sinew reconcile acknowledge 0193… --note "EHR restored from backup"

Reconciliations are the YAML files under --dir (reconciliations/ by default), checked by
\`sinew lint\`. A run reads each entity's two sides, compares them, explains each difference with
the ledger (--data or DATABASE_URL) and stores the run there, where the engine's console and API
show it. Exit status of run and show: 0 clean, 1 discrepancies found, 2 the run could not complete
(or a usage error).`;

interface CommonOptions {
  dir: string;
  data?: string;
  env?: string;
}

function environment(options: CommonOptions): ChannelEnvironment {
  try {
    return options.env
      ? loadEnvironment(process.env, { name: options.env, strict: true })
      : loadEnvironment(process.env, { strict: true });
  } catch (err) {
    if (err instanceof EnvironmentError) {
      process.stderr.write(`sinew reconcile: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** Opens the ledger and the reconciliations of the folder; exits 2 when a file has errors. */
async function open(options: CommonOptions, { create = false } = {}) {
  const env = environment(options);
  const ledger = await openCliLedger('reconcile', options.data, { create });
  const parts = reconcileParts({ ledger: ledger.store });
  const { reconciliations, problems } = loadReconciliationFolder(
    resolve(options.dir),
    env,
    parts.sideSchemas,
  );
  for (const p of problems)
    process.stderr.write(`${p.file}:${p.line}:${p.column} ${p.severity} ${p.code} ${p.message}\n`);
  if (problems.some((p) => p.severity === 'error')) {
    await ledger.store.close();
    process.stderr.write('sinew reconcile: fix the errors above (sinew lint shows them too)\n');
    process.exit(2);
  }
  const store: ReconcileStore = ledger.store.reconcile;
  const reconciler = new FolderReconciler({ reconciliations, store, ledger: ledger.store, parts });
  return { reconciler, store, close: () => ledger.store.close() };
}

async function* allDiscrepancies(
  store: ReconcileStore,
  runId: string,
  cls?: DiscrepancyClass,
): AsyncGenerator<DiscrepancyRecord> {
  let after: string | undefined;
  for (;;) {
    const page = await store.listDiscrepancies(runId, {
      limit: 1000,
      ...(cls ? { class: cls } : {}),
      ...(after ? { after } : {}),
    });
    yield* page;
    if (page.length < 1000) return;
    after = page[page.length - 1]?.id;
  }
}

async function output(
  store: ReconcileStore,
  run: RunRecord,
  format: ReportFormat,
  options: { output?: string; consoleUrl?: string; class?: DiscrepancyClass },
): Promise<void> {
  const text = await renderReport(run, allDiscrepancies(store, run.id, options.class), format, {
    ...(options.consoleUrl ? { consoleUrl: options.consoleUrl } : {}),
  });
  if (options.output) {
    writeFileSync(options.output, text);
    process.stderr.write(`wrote ${options.output}\n`);
  } else process.stdout.write(text);
}

function exitFor(run: RunRecord): number {
  return run.status === 'clean' ? 0 : run.status === 'discrepancies' ? 1 : 2;
}

function formatOption(): Option {
  return new Option('--format <format>', 'table, json, csv or html').choices(REPORT_FORMATS).default('table');
}

function commonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--dir <dir>', 'the reconciliations folder').default('reconciliations'))
    .addOption(
      new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
    )
    .addOption(new Option('--env <name>', 'the environment whose values file fills ${VAR} (SINEW_ENV)'));
}

function parseClass(text: string): DiscrepancyClass {
  if (!(DISCREPANCY_CLASSES as readonly string[]).includes(text)) {
    process.stderr.write(
      `sinew reconcile: unknown class ${text} (one of: ${DISCREPANCY_CLASSES.join(', ')})\n`,
    );
    process.exit(2);
  }
  return text as DiscrepancyClass;
}

async function guarded(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (err instanceof ReconcileRequestError || err instanceof RepairError) {
      process.stderr.write(`sinew reconcile: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

export function registerReconcile(program: Command): void {
  const reconcile = program
    .command('reconcile')
    .description('compare what the PMS, Sinew and the EHR hold, explain each difference, repair')
    .addHelpText('after', EXAMPLES);

  commonOptions(reconcile.command('run').argument('<name>', 'the reconciliation id'))
    .description('run a reconciliation now and print its report')
    .addOption(new Option('--period <period>', 'yesterday, today, all, last_7d, YYYY-MM-DD or FROM..TO'))
    .addOption(formatOption())
    .addOption(new Option('--output <file>', 'write the report to this file'))
    .addOption(new Option('--console-url <url>', 'link message ids to this console (html)'))
    .action(
      async (
        name: string,
        options: CommonOptions & {
          period?: string;
          format: ReportFormat;
          output?: string;
          consoleUrl?: string;
        },
      ) => {
        const { reconciler, store, close } = await open(options, { create: true });
        try {
          await guarded(async () => {
            const run = await reconciler.run(name, {
              trigger: 'cli',
              ...(options.period ? { period: options.period } : {}),
            });
            await output(store, run, options.format, options);
            if (run.status === 'failed')
              process.stderr.write(`sinew reconcile: the run failed: ${run.error}\n`);
            process.exitCode = exitFor(run);
          });
        } finally {
          await close();
        }
      },
    );

  commonOptions(reconcile.command('list'))
    .description('list the reconciliations, their schedule and last run')
    .addOption(new Option('--runs <n>', 'also list this many recent runs of each').default('0'))
    .action(async (options: CommonOptions & { runs: string }) => {
      const { reconciler, store, close } = await open(options, { create: true });
      try {
        const infos = reconciler.list();
        if (infos.length === 0) process.stderr.write(`no reconciliations in ${options.dir}\n`);
        for (const info of infos) {
          const runs = await store.listRuns({
            reconciliation: info.id,
            limit: Math.max(1, Number(options.runs) || 1),
          });
          const last = runs[0];
          process.stdout.write(
            `${info.id}\t${info.schedule.cron} ${info.schedule.timezone}\tnext ${info.schedule.next?.toISOString() ?? '-'}\t` +
              `last ${last ? `${last.status} ${last.startedAt.toISOString()} ${last.id}` : 'never run'}\n`,
          );
          if (Number(options.runs) > 0)
            for (const r of runs)
              process.stdout.write(
                `  ${r.id}\t${r.status}\t${r.trigger}\t${r.periodLabel}\t${r.startedAt.toISOString()}\t${r.summary?.discrepancies ?? '-'} discrepancies\n`,
              );
        }
      } finally {
        await close();
      }
    });

  commonOptions(reconcile.command('show').argument('<run>', 'a run id (sinew reconcile list --runs 5)'))
    .description('print a stored run’s report')
    .addOption(formatOption())
    .addOption(new Option('--output <file>', 'write the report to this file'))
    .addOption(new Option('--class <class>', 'only discrepancies of this class'))
    .addOption(new Option('--console-url <url>', 'link message ids to this console (html)'))
    .action(
      async (
        runId: string,
        options: CommonOptions & {
          format: ReportFormat;
          output?: string;
          class?: string;
          consoleUrl?: string;
        },
      ) => {
        const cls = options.class ? parseClass(options.class) : undefined;
        const { store, close } = await open(options);
        try {
          const run = await store.getRun(runId);
          if (!run) {
            process.stderr.write(`sinew reconcile: no run ${runId}\n`);
            process.exitCode = 2;
            return;
          }
          await output(store, run, options.format, {
            ...(options.output ? { output: options.output } : {}),
            ...(options.consoleUrl ? { consoleUrl: options.consoleUrl } : {}),
            ...(cls ? { class: cls } : {}),
          });
          process.exitCode = exitFor(run);
        } finally {
          await close();
        }
      },
    );

  commonOptions(reconcile.command('repair').argument('<run>', 'a run id'))
    .description(`re-send what the ledger can mend (${REPAIRABLE_CLASSES.join(', ')})`)
    .addOption(new Option('--class <classes>', 'only these classes, comma-separated'))
    .addOption(new Option('--dry-run', 'list what would be re-sent, change nothing'))
    .action(async (runId: string, options: CommonOptions & { class?: string; dryRun?: boolean }) => {
      const classes = options.class?.split(',').map((c) => parseClass(c.trim()));
      const { reconciler, close } = await open(options);
      try {
        await guarded(async () => {
          const actions = await reconciler.repair(runId, {
            by: 'cli',
            dryRun: options.dryRun === true,
            ...(classes ? { classes } : {}),
          });
          for (const a of actions)
            process.stdout.write(
              `${options.dryRun && a.action === 'replayed' ? 'would replay' : a.action}\t${a.entity}\t${a.class}\t${a.deliveryIds.join(',') || '-'}\t${a.detail}\n`,
            );
          const replayed = actions.filter((a) => a.action === 'replayed').length;
          process.stderr.write(
            `${replayed} ${options.dryRun ? 'would be re-sent' : 're-sent; the engine sends them at its next recovery sweep'}, ${actions.length - replayed} skipped\n`,
          );
        });
      } finally {
        await close();
      }
    });

  commonOptions(reconcile.command('flags'))
    .description('list sync-error flags (open ones unless --all)')
    .addOption(new Option('--all', 'acknowledged ones too'))
    .action(async (options: CommonOptions & { all?: boolean }) => {
      const { store, close } = await open(options, { create: true });
      try {
        const flags = await store.listFlags({ ...(options.all ? {} : { open: true }), limit: 500 });
        for (const f of flags)
          process.stdout.write(
            `${f.id}\t${f.reconciliation}\t${f.entity}\t${f.class}\t${f.count}\traised ${f.raisedAt.toISOString()}\t${f.acknowledgedAt ? `acknowledged ${f.acknowledgedAt.toISOString()} by ${f.acknowledgedBy}` : 'open'}\n`,
          );
        if (flags.length === 0)
          process.stderr.write(options.all ? 'no flags\n' : 'no open sync-error flag\n');
      } finally {
        await close();
      }
    });

  commonOptions(reconcile.command('acknowledge').argument('<flag>', 'a flag id (sinew reconcile flags)'))
    .description('acknowledge a sync-error flag')
    .addOption(new Option('--note <text>', 'why it is safe now'))
    .action(async (flagId: string, options: CommonOptions & { note?: string }) => {
      const { reconciler, close } = await open(options);
      try {
        const flag = await reconciler.acknowledge(flagId, 'cli', options.note);
        if (!flag) {
          process.stderr.write(`sinew reconcile: no flag ${flagId}\n`);
          process.exitCode = 2;
          return;
        }
        process.stdout.write(
          `acknowledged\t${flag.id}\t${flag.reconciliation}\t${flag.entity}\t${flag.class}\n`,
        );
      } finally {
        await close();
      }
    });
}
