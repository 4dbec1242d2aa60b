import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { Option, type Command } from 'commander';
import {
  builtInRegistries,
  compileChannel,
  formatProblem,
  hasErrors,
  loadEnvironment,
  parseDuration,
  sortProblems,
  type ChannelRegistries,
  type CompiledChannel,
} from '@sinew/channels';
import {
  createLogger,
  PipelineThreads,
  shadowRun,
  type FieldChange,
  type MessageDiff,
  type ShadowTotals,
} from '@sinew/engine';
import { MappingError } from '@sinew/mapping';
import { openStore, SQLITE_FILE_NAME } from '@sinew/store';
import { loadConfig, type ConfigError } from '@sinew/engine-app/config';

const EXAMPLES = `
Examples:
  $ sinew diff lab-results --candidate channels/lab-results.yaml         # the last 24 hours
  $ sinew diff lab-results --candidate next/lab-results.yaml --since 7d --limit 5000
  $ sinew diff lab-results --candidate next/lab-results.yaml --since 2026-03-01T00:00:00Z --format json

Runs the stored messages of CHANNEL (newest first) through the candidate channel file and shows
what would change: messages now filtered, rejected or errored, destinations added or removed,
and per destination the payload's differences by HL7 path or JSON pointer. Nothing is
delivered and nothing is written. The output shows message content: keep it on your terminal.
Exit status: 0 when nothing would change, 1 when something would, 2 for a usage error or a
candidate that does not compile.`;

interface DiffOptions {
  candidate: string;
  since: string;
  until?: string;
  limit?: string;
  data?: string;
  transformers?: string[];
  env?: string;
  threads?: string;
  format: string;
}

/** A duration back from now (`24h`, `7d`) or a date (`2026-03-01`, ISO 8601). */
function parseTime(text: string, now: number): Date | undefined {
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(now - ms);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function usage(message: string): never {
  process.stderr.write(`sinew diff: ${message}\n`);
  process.exit(2);
}

const MAX_FIELDS = 20;
const MAX_VALUE = 160;

function shown(v: string | undefined): string {
  if (v === undefined || v === '') return '(absent)';
  const one = v.replace(/\r\n?|\n/g, '\u23ce');
  return one.length > MAX_VALUE ? `${one.slice(0, MAX_VALUE)}…` : one;
}

function fieldLine(f: FieldChange): string {
  return `${f.path}: ${shown(f.before)} \u2192 ${shown(f.after)}`;
}

const OUTCOME_TEXT: Record<MessageDiff['outcome'], string> = {
  changed: 'changed',
  filtered: 'now filtered',
  rejected: 'now rejected',
  errored: 'now errored',
};

/** One changed message as a text block. */
export function formatDiff(d: MessageDiff): string {
  const lines = [
    `${d.id}  ${d.receivedAt.toISOString()}  ${d.messageType ?? '-'}  ${OUTCOME_TEXT[d.outcome]}`,
  ];
  if (pipelineOf(d.stored) !== d.candidate) lines.push(`  status: ${d.stored} \u2192 ${d.candidate}`);
  if (d.issue)
    lines.push(`  ${d.issue.step ?? ''}${d.issue.step ? ' ' : ''}${d.issue.code}: ${d.issue.message}`);
  for (const dest of d.destinations) {
    if (dest.change !== 'changed') {
      lines.push(`  ${dest.destination}: ${dest.change}`);
      continue;
    }
    lines.push(`  ${dest.destination}:`);
    for (const f of dest.fields.slice(0, MAX_FIELDS)) lines.push(`    ${fieldLine(f)}`);
    if (dest.fields.length > MAX_FIELDS) lines.push(`    … ${dest.fields.length - MAX_FIELDS} more`);
  }
  return `${lines.join('\n')}\n`;
}

function pipelineOf(s: MessageDiff['stored']): string {
  return s === 'delivered' || s === 'failed' ? 'processed' : s;
}

/** `N messages: A unchanged, B changed, …; destinations: X added, Y removed`. */
export function formatTotals(t: ShadowTotals): string {
  return (
    `${t.messages} messages: ${t.unchanged} unchanged, ${t.changed} changed, ${t.filtered} now filtered, ` +
    `${t.rejected} now rejected, ${t.errored} now errored` +
    `${t.skipped ? `, ${t.skipped} not compared (no outcome recorded yet)` : ''}; ` +
    `destinations: ${t.destinationsAdded} added, ${t.destinationsRemoved} removed\n`
  );
}

function compileCandidate(file: string, registries: ChannelRegistries): CompiledChannel {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    usage(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const shownFile = relative(process.cwd(), file) || file;
  // The environment deploy would use; TLS files are not opened (nothing connects).
  const r = compileChannel(text, shownFile, registries, {
    env: loadEnvironment(process.env),
    checkFiles: false,
  });
  if (!r.channel || hasErrors(r.problems)) {
    const errors = sortProblems(r.problems.filter((p) => p.severity === 'error'));
    process.stderr.write(
      `sinew diff: the candidate does not compile:\n${errors.map(formatProblem).join('\n')}\n`,
    );
    process.exit(2);
  }
  return r.channel;
}

export function registerDiff(program: Command): void {
  program
    .command('diff')
    .description('shadow run: what a candidate channel file would do with the stored messages of a channel')
    .argument('<channel>', 'id of the channel whose stored messages are read')
    .addOption(new Option('--candidate <file>', 'the candidate channel file').makeOptionMandatory())
    .addOption(new Option('--since <when>', 'from this long ago (24h, 7d) or this date').default('24h'))
    .addOption(new Option('--until <when>', 'up to this long ago or this date (default now)'))
    .addOption(new Option('--limit <n>', 'at most this many messages, newest first'))
    .addOption(
      new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
    )
    .addOption(new Option('--transformers <dir...>', 'extra transformer folders (SINEW_TRANSFORMERS_DIRS)'))
    .addOption(new Option('--env <name>', 'environment whose values file fills ${VAR} (SINEW_ENV)'))
    .addOption(
      new Option('--threads <n>', 'pipeline threads besides the main one (default: CPUs - 1, at most 4)'),
    )
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addHelpText('after', EXAMPLES)
    .action(async (channelId: string, options: DiffOptions) => {
      const now = Date.now();
      const since = parseTime(options.since, now);
      if (!since) usage(`--since ${options.since}: write a duration (24h, 7d) or a date`);
      const until = options.until === undefined ? undefined : parseTime(options.until, now);
      if (options.until !== undefined && !until)
        usage(`--until ${options.until}: write a duration (1h, 2d) or a date`);
      const limit = options.limit === undefined ? undefined : Number(options.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
        usage(`--limit ${options.limit}: a positive whole number`);
      const threadCount =
        options.threads === undefined
          ? Math.max(0, Math.min(4, availableParallelism() - 1))
          : Number(options.threads);
      if (!Number.isInteger(threadCount) || threadCount < 0 || threadCount > 64)
        usage(`--threads ${options.threads}: a whole number from 0 to 64`);
      if (options.env) process.env.SINEW_ENV = options.env;

      const env = { ...process.env };
      if (options.data) env.SINEW_DATA_DIR = options.data;
      if (options.transformers) env.SINEW_TRANSFORMERS_DIRS = options.transformers.join(',');
      let config;
      try {
        config = loadConfig(env);
      } catch (err) {
        usage((err as ConfigError).message);
      }
      const extra =
        config.SINEW_TRANSFORMERS_DIRS?.split(',')
          .map((d) => d.trim())
          .filter(Boolean) ?? [];
      let registries: ChannelRegistries;
      let candidate: CompiledChannel;
      try {
        registries = builtInRegistries(extra);
        candidate = compileCandidate(options.candidate, registries);
      } catch (err) {
        usage(
          err instanceof MappingError ? err.toString() : err instanceof Error ? err.message : String(err),
        );
      }
      if (!config.DATABASE_URL && !existsSync(join(config.SINEW_DATA_DIR, SQLITE_FILE_NAME)))
        usage(`no ledger in ${config.SINEW_DATA_DIR} (give --data, SINEW_DATA_DIR or DATABASE_URL)`);
      const store = await openStore({
        ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}),
        ...(config.DATABASE_SCHEMA ? { schema: config.DATABASE_SCHEMA } : {}),
        dataDir: config.SINEW_DATA_DIR,
      });
      // The threads compile the candidate again (dist/pipeline-worker.js beside this bundle).
      const script = join(__dirname, 'pipeline-worker.js');
      let threads: PipelineThreads | undefined;
      if (threadCount > 0 && existsSync(script))
        threads = await PipelineThreads.start({
          script,
          threads: threadCount,
          channels: [candidate],
          env: loadEnvironment(process.env),
          transformerDirs: registries.transformers.dirs,
          logger: createLogger('silent'),
        });
      const json = options.format === 'json';
      let first = true;
      // A reader that went away (`| head`) ends the run quietly.
      const stop = new AbortController();
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') throw err;
        stop.abort();
      });
      try {
        if (json)
          process.stdout.write(
            `{"channel":${JSON.stringify(channelId)},"candidate":${JSON.stringify(candidate.file)},"changes":[`,
          );
        const totals = await shadowRun({
          store,
          channelId,
          candidate,
          since,
          ...(until ? { until } : {}),
          ...(limit !== undefined ? { limit } : {}),
          signal: stop.signal,
          ...(threads ? { threads } : {}),
          onDiff: (d) => {
            if (!json) process.stdout.write(`${formatDiff(d)}\n`);
            else {
              process.stdout.write(`${first ? '' : ','}\n${JSON.stringify(d)}`);
              first = false;
            }
          },
        });
        if (json) process.stdout.write(`\n],"totals":${JSON.stringify(totals)}}\n`);
        else process.stdout.write(formatTotals(totals));
        const changed =
          totals.changed + totals.filtered + totals.rejected + totals.errored > 0 ||
          totals.destinationsAdded + totals.destinationsRemoved > 0;
        process.exitCode = changed ? 1 : 0;
      } finally {
        await threads?.close();
        await store.close();
      }
    });
}
