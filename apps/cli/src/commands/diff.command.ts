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
  type LintProblem,
} from '@sinew/channels';
import {
  createLogger,
  PipelineThreads,
  shadowRun,
  type DestinationDiff,
  type FieldChange,
  type MessageDiff,
  type ShadowTotals,
} from '@sinew/engine';
import { MappingError } from '@sinew/mapping';
import { openStore, SQLITE_FILE_NAME } from '@sinew/store';
import { loadConfig, type ConfigError } from '@sinew/engine-app/config';
import { ApiCallError, callApi } from './api-client';

const EXAMPLES = `
Examples:
  $ sinew diff lab-results --candidate channels/lab-results.yaml         # the last 24 hours
  $ sinew diff lab-results --candidate next/lab-results.yaml --since 7d --limit 5000
  $ sinew diff lab-results --candidate next/lab-results.yaml --since 2026-03-01T00:00:00Z --format json
  $ SINEW_TOKEN=snw_… sinew diff lab-results --candidate next/lab-results.yaml --server http://sinew:8080

Runs the stored messages of CHANNEL (newest first) through the candidate channel file and shows
what would change: messages now filtered, rejected or errored, destinations added or removed,
and per destination the payload's differences by HL7 path or JSON pointer. Nothing is
delivered and nothing is written. The output shows message content: keep it on your terminal.
With --server the running engine reads its own ledger and compiles the candidate with its
transformers and environment (the key needs channels:write; values and error messages are shown
with phi:read only; it reads at most 10000 messages and lists the first 200 changed ones).
Exit status: 0 when nothing would change, 1 when something would, 2 for a usage error, a
candidate that does not compile, or a run the server refused.`;

/** The admin API's shadow run reads at most this many messages and lists this many changes. */
const SERVER_MAX_LIMIT = 10_000;
const SERVER_MAX_CHANGES = 200;

interface DiffOptions {
  server?: string;
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
  // A change has a value on one side at least: none means the server withheld them (no phi:read).
  if (f.before === undefined && f.after === undefined) return `${f.path}: (values need phi:read)`;
  return `${f.path}: ${shown(f.before)} \u2192 ${shown(f.after)}`;
}

/** A changed message as printed: a local run's, or the admin API's answer read back. */
export interface DiffView {
  id: string;
  receivedAt: Date;
  messageType?: string;
  stored: string;
  candidate: string;
  outcome: MessageDiff['outcome'];
  issue?: { step?: string; code: string; message?: string };
  destinations: Array<{
    destination: string;
    change: DestinationDiff['change'];
    fields: FieldChange[];
    /** Differences beyond those listed (the admin API lists 50 per destination). */
    moreFields?: number;
  }>;
}

const OUTCOME_TEXT: Record<MessageDiff['outcome'], string> = {
  changed: 'changed',
  filtered: 'now filtered',
  rejected: 'now rejected',
  errored: 'now errored',
};

/** One changed message as a text block. */
export function formatDiff(d: DiffView): string {
  const lines = [
    `${d.id}  ${d.receivedAt.toISOString()}  ${d.messageType ?? '-'}  ${OUTCOME_TEXT[d.outcome]}`,
  ];
  if (pipelineOf(d.stored) !== d.candidate) lines.push(`  status: ${d.stored} \u2192 ${d.candidate}`);
  if (d.issue)
    lines.push(
      `  ${d.issue.step ?? ''}${d.issue.step ? ' ' : ''}${d.issue.code}: ${d.issue.message ?? '(message needs phi:read)'}`,
    );
  for (const dest of d.destinations) {
    if (dest.change !== 'changed') {
      lines.push(`  ${dest.destination}: ${dest.change}`);
      continue;
    }
    lines.push(`  ${dest.destination}:`);
    for (const f of dest.fields.slice(0, MAX_FIELDS)) lines.push(`    ${fieldLine(f)}`);
    const count = dest.fields.length + (dest.moreFields ?? 0);
    if (count > MAX_FIELDS) lines.push(`    … ${count - MAX_FIELDS} more`);
  }
  return `${lines.join('\n')}\n`;
}

function pipelineOf(s: string): string {
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
    .addOption(
      new Option(
        '--server <url>',
        'shadow-run on a running engine through its admin API (SINEW_TOKEN)',
      ).conflicts(['data', 'transformers', 'env', 'threads']),
    )
    .addHelpText('after', EXAMPLES)
    // Usage errors exit 2 (1 means something would change).
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
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
      if (options.server) {
        if (limit !== undefined && limit > SERVER_MAX_LIMIT)
          usage(`--limit ${options.limit}: the server reads at most ${SERVER_MAX_LIMIT} messages a run`);
        await diffOnServer(options.server, channelId, options, { since, until, limit });
        return;
      }
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
        process.exitCode = anyChange(totals) ? 1 : 0;
      } finally {
        await threads?.close();
        await store.close();
      }
    });
}

function anyChange(t: ShadowTotals): boolean {
  return (
    t.changed + t.filtered + t.rejected + t.errored > 0 || t.destinationsAdded + t.destinationsRemoved > 0
  );
}

/** The admin API's answer to `POST /api/v1/channels/{id}/shadow`. */
interface ServerShadow {
  channel: string;
  candidate: string;
  totals: {
    messages: number;
    unchanged: number;
    changed: number;
    filtered: number;
    rejected: number;
    errored: number;
    skipped: number;
    destinations_added: number;
    destinations_removed: number;
  };
  changes: Array<{
    id: string;
    received_at: string;
    message_type?: string;
    stored: string;
    candidate: string;
    outcome: MessageDiff['outcome'];
    issue?: { step?: string; code: string; message?: string };
    destinations: Array<{
      destination: string;
      change: DestinationDiff['change'];
      fields: FieldChange[];
      more_fields?: number;
    }>;
  }>;
  truncated: boolean;
}

/** A change as the local report holds it (the same members, in the same order, for --format json). */
function viewOf(c: ServerShadow['changes'][number]): DiffView {
  return {
    id: c.id,
    receivedAt: new Date(c.received_at),
    ...(c.message_type !== undefined ? { messageType: c.message_type } : {}),
    stored: c.stored,
    candidate: c.candidate,
    outcome: c.outcome,
    ...(c.issue ? { issue: c.issue } : {}),
    destinations: c.destinations.map((d) => ({
      destination: d.destination,
      change: d.change,
      fields: d.fields,
      ...(d.more_fields ? { moreFields: d.more_fields } : {}),
    })),
  };
}

/** `sinew diff --server`: the engine runs the candidate over its ledger; the report is printed as locally. */
async function diffOnServer(
  server: string,
  channelId: string,
  options: DiffOptions,
  window: { since: Date; until: Date | undefined; limit: number | undefined },
): Promise<void> {
  let content: string;
  try {
    content = readFileSync(options.candidate, 'utf8');
  } catch (err) {
    usage(`cannot read ${options.candidate} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const shownFile = relative(process.cwd(), options.candidate) || options.candidate;
  let answer: ServerShadow;
  try {
    answer = await callApi<ServerShadow>(
      'diff',
      server,
      'POST',
      `/api/v1/channels/${encodeURIComponent(channelId)}/shadow`,
      {
        content,
        since: window.since.toISOString(),
        ...(window.until ? { until: window.until.toISOString() } : {}),
        // Without --limit the local run reads the whole window: ask for as much as the server allows.
        limit: window.limit ?? SERVER_MAX_LIMIT,
      },
    );
  } catch (err) {
    if (!(err instanceof ApiCallError)) throw err;
    const problems = err.problem?.problems;
    if (err.status === 422 && Array.isArray(problems)) {
      // The server compiled the text as `candidate.yaml`: the lines name the user's file.
      const lines = (problems as LintProblem[]).map((p) => formatProblem({ ...p, file: shownFile }));
      process.stderr.write(`sinew diff: the candidate does not compile:\n${lines.join('\n')}\n`);
    } else process.stderr.write(`sinew diff: ${err.message}\n`);
    // Exit 1 means "something would change": a run that was not made is 2.
    process.exit(2);
  }
  const t = answer.totals;
  const totals: ShadowTotals = {
    messages: t.messages,
    unchanged: t.unchanged,
    changed: t.changed,
    filtered: t.filtered,
    rejected: t.rejected,
    errored: t.errored,
    skipped: t.skipped,
    destinationsAdded: t.destinations_added,
    destinationsRemoved: t.destinations_removed,
  };
  const changes = answer.changes.map(viewOf);
  if (options.format === 'json') {
    // Laid out as the local run streams it: one change a line.
    const listed = changes.map((c, i) => `${i ? ',' : ''}\n${JSON.stringify(c)}`).join('');
    process.stdout.write(
      `{"channel":${JSON.stringify(channelId)},"candidate":${JSON.stringify(shownFile)},"changes":[${listed}` +
        `\n],"totals":${JSON.stringify(totals)}${answer.truncated ? ',"truncated":true' : ''}}\n`,
    );
  } else {
    for (const c of changes) process.stdout.write(`${formatDiff(c)}\n`);
    if (answer.truncated)
      process.stdout.write(
        `… more changed messages than the ${changes.length} listed (the server lists at most ${SERVER_MAX_CHANGES}; the totals count them all)\n\n`,
      );
    process.stdout.write(formatTotals(totals));
  }
  if (window.limit === undefined && totals.messages >= SERVER_MAX_LIMIT)
    process.stderr.write(
      `sinew diff: the server read its maximum of ${SERVER_MAX_LIMIT} messages; narrow --since/--until to see the rest\n`,
    );
  process.exitCode = anyChange(totals) ? 1 : 0;
}
