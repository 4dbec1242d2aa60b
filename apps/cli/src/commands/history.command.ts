import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import {
  openStore,
  SQLITE_FILE_NAME,
  type DeploymentProblem,
  type DeploymentRecord,
  type Store,
} from '@sinew/store';
import { loadConfig, type ConfigError } from '@sinew/engine-app/config';
import { unifiedDiff } from '@sinew/engine-app/api/channel-ops-diff';

import { callApi, withApiErrors } from './api-client';

export { unifiedDiff };

const EXAMPLES = `
Examples:
  $ sinew history lab-results                  # every version, newest first
  $ sinew history lab-results --diff 3 5       # what changed from version 3 to version 5
  $ sinew history lab-results --diff 3         # version 3 against the version deployed now
  $ SINEW_TOKEN=snw_… sinew history lab-results --server http://sinew:8080

Each deployment attempt of a channel (at start-up, on a file change, a rollback) is a version
in the ledger (--data, or DATABASE_URL): the file's text, its sha256, who deployed it and
whether it was deployed or refused. The same text deployed again keeps its version. With
--server the running engine's admin API answers (the key needs channels:read). Exit status: 0
when something was shown, 1 when the channel or a version is unknown or the server refused, 2
for a usage error.`;

interface HistoryOptions {
  server?: string;
  data?: string;
  diff?: string[];
  limit: string;
}

/** The ledger the engine would use (`--data` / SINEW_DATA_DIR, DATABASE_URL), and its data folder. */
export interface CliLedger {
  store: Store;
  /** The engine's data folder (its pid file, and the SQLite ledger without DATABASE_URL). */
  dataDir: string;
}

/**
 * Opens the ledger as `sinew start` would with the same settings; exits 2 on an invalid
 * setting, and 1 when an embedded ledger does not exist (rather than creating an empty one),
 * unless `create` (setting up the first administrator before the first start).
 */
export async function openCliLedger(
  command: string,
  data: string | undefined,
  { create = false }: { create?: boolean } = {},
): Promise<CliLedger> {
  const env = { ...process.env };
  if (data) env.SINEW_DATA_DIR = data;
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    process.stderr.write(`sinew: ${(err as ConfigError).message}\n`);
    process.exit(2);
  }
  if (!create && !config.DATABASE_URL && !existsSync(join(config.SINEW_DATA_DIR, SQLITE_FILE_NAME))) {
    process.stderr.write(
      `sinew ${command}: no ledger at ${join(config.SINEW_DATA_DIR, SQLITE_FILE_NAME)} (give --data, or DATABASE_URL)\n`,
    );
    process.exit(1);
  }
  const store = await openStore({
    ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}),
    ...(config.DATABASE_SCHEMA ? { schema: config.DATABASE_SCHEMA } : {}),
    dataDir: config.SINEW_DATA_DIR,
  });
  return { store, dataDir: config.SINEW_DATA_DIR };
}

/** A version number as typed on the command line, or undefined when it is not one. */
export function parseVersion(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) return undefined;
  const version = Number(text);
  return version <= 2 ** 31 - 1 ? version : undefined;
}

/** A time stamp to the second, in UTC. */
export function when(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** The listing: one aligned row per version, with the problems of refused ones below it. */
function table(records: DeploymentRecord[]): string {
  const firstOfHash = new Map<string, number>();
  for (const r of [...records].reverse()) {
    if (!firstOfHash.has(r.contentHash)) firstOfHash.set(r.contentHash, r.version);
  }
  const header = ['VERSION', 'DEPLOYED AT', 'BY', 'OUTCOME', 'HASH', 'COMMIT', 'NOTE'];
  const rows = records.map((r) => {
    const first = firstOfHash.get(r.contentHash);
    return [
      String(r.version),
      when(r.deployedAt),
      r.deployedBy,
      r.outcome,
      r.contentHash.slice(0, 12),
      r.gitCommit ? r.gitCommit.slice(0, 12) : '-',
      first !== undefined && first !== r.version ? `same text as ${first}` : '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const lines = [format(header)];
  for (const [i, r] of records.entries()) {
    lines.push(format(rows[i] ?? []));
    for (const p of r.problems) {
      const place = p.line !== undefined ? `${p.line}:${p.column ?? 1} ` : '';
      const kind = [p.level, p.code].filter(Boolean).join(' ');
      lines.push(`    ${place}${kind ? `${kind} ` : ''}${p.path ? `${p.path}: ` : ''}${p.message}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('list the deployed versions of a channel, or show what changed between two')
    .argument('<channel>', 'channel id')
    .addOption(
      new Option(
        '--diff <version...>',
        'unified diff from the first version to the second (default: the deployed one)',
      ),
    )
    .addOption(
      new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
    )
    .addOption(new Option('--limit <n>', 'at most this many versions, newest first').default('100'))
    .addOption(
      new Option('--server <url>', 'ask a running engine\u2019s admin API (SINEW_TOKEN)').conflicts('data'),
    )
    .addHelpText('after', EXAMPLES)
    .action(async (channel: string, options: HistoryOptions) => {
      const limit = parseVersion(options.limit);
      if (limit === undefined) {
        process.stderr.write(`sinew history: --limit must be a positive integer, not ${options.limit}\n`);
        process.exit(2);
      }
      const diff = options.diff?.map((text) => ({ text, version: parseVersion(text) }));
      if (diff && (diff.length > 2 || diff.some((d) => d.version === undefined))) {
        process.stderr.write('sinew history: --diff takes one or two version numbers\n');
        process.exit(2);
      }
      if (options.server) {
        const server = options.server;
        await withApiErrors('history', () =>
          historyOnServer(
            server,
            channel,
            limit,
            diff?.map((d) => d.version as number),
          ),
        );
        return;
      }
      const { store } = await openCliLedger('history', options.data);
      try {
        if (!diff) {
          const records = await store.listDeployments(channel, limit);
          if (records.length === 0) {
            process.stderr.write(`sinew history: channel ${channel} has no recorded deployment\n`);
            process.exitCode = 1;
            return;
          }
          process.stdout.write(table(records));
          return;
        }
        const from = await store.getDeployment(channel, diff[0]?.version as number);
        const to =
          diff[1] === undefined
            ? await store.latestDeployment(channel)
            : await store.getDeployment(channel, diff[1].version as number);
        const missing = !from
          ? `version ${diff[0]?.text}`
          : !to
            ? diff[1] === undefined
              ? 'a deployed version'
              : `version ${diff[1].text}`
            : undefined;
        if (missing || !from || !to) {
          process.stderr.write(`sinew history: channel ${channel} has no ${missing}\n`);
          process.exitCode = 1;
          return;
        }
        const text = unifiedDiff(from.content, to.content, {
          from: `${from.filePath} (version ${from.version}, ${when(from.deployedAt)})`,
          to: `${to.filePath} (version ${to.version}, ${when(to.deployedAt)})`,
        });
        if (text === '') {
          process.stderr.write(
            `sinew history: versions ${from.version} and ${to.version} have the same text\n`,
          );
        }
        process.stdout.write(text);
      } finally {
        await store.close();
      }
    });
}

interface ServerDeployment {
  version: number;
  outcome: DeploymentRecord['outcome'];
  deployed_at: string;
  deployed_by: string;
  content_hash: string;
  file_path: string;
  git_commit?: string;
}

/** `sinew history --server`: the same listing and diffs, from the admin API. */
async function historyOnServer(
  server: string,
  channel: string,
  limit: number,
  diff: number[] | undefined,
): Promise<void> {
  const base = `/api/v1/channels/${encodeURIComponent(channel)}/deployments`;
  const list = async (n: number) =>
    (await callApi<{ items: ServerDeployment[] }>('history', server, 'GET', `${base}?limit=${n}`)).items;
  if (!diff) {
    const items = await list(Math.min(limit, 500));
    if (items.length === 0) {
      process.stderr.write(`sinew history: channel ${channel} has no recorded deployment\n`);
      process.exitCode = 1;
      return;
    }
    const records: DeploymentRecord[] = [];
    for (const d of items) {
      // A refused version's findings, each with its place.
      const problems =
        d.outcome === 'refused'
          ? (
              await callApi<{ problems: DeploymentProblem[] }>(
                'history',
                server,
                'GET',
                `${base}/${d.version}`,
              )
            ).problems
          : [];
      records.push({
        channelId: channel,
        version: d.version,
        contentHash: d.content_hash,
        content: '',
        filePath: d.file_path,
        ...(d.git_commit ? { gitCommit: d.git_commit } : {}),
        deployedBy: d.deployed_by,
        deployedAt: new Date(d.deployed_at),
        outcome: d.outcome,
        problems,
      });
    }
    process.stdout.write(table(records));
    return;
  }
  const from = diff[0] as number;
  let to = diff[1];
  if (to === undefined) {
    to = (await list(500)).find((d) => d.outcome === 'deployed')?.version;
    if (to === undefined) {
      process.stderr.write(`sinew history: channel ${channel} has no deployed version\n`);
      process.exitCode = 1;
      return;
    }
  }
  const answer = await callApi<{ diff: string }>('history', server, 'GET', `${base}/${to}?against=${from}`);
  if (answer.diff === '')
    process.stderr.write(`sinew history: versions ${from} and ${to} have the same text\n`);
  process.stdout.write(answer.diff);
}
