import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { EnvironmentError } from '@sinew/channels';
import {
  builtInRegistries,
  compileChannelDir,
  formatProblem,
  hasErrors,
  loadEnvironment,
  sortProblems,
  type ChannelEnvironment,
  type LintProblem,
} from '@sinew/channels';
import { ApiCallError, callApi, withApiErrors } from './api-client';
import { openCliLedger } from './history.command';
import { signalEngine } from './rollback.command';

const EXAMPLES = `
Examples:
  $ sinew deploy                                  # channels/ into the engine whose data folder is ./data
  $ sinew deploy --channels /etc/sinew/channels --data /var/lib/sinew --env production
  $ SINEW_TOKEN=snw_… sinew deploy --server http://sinew:8080    # the engine's own channel folder

The channel folder is compiled first, as sinew lint and the engine compile it: with an error,
nothing is sent and the findings are printed (exit 1). Otherwise the running engine (its pid
file <data>/sinew.pid) is sent SIGHUP, compiles the same folder and deploys what changed
without a restart; the command waits until the ledger records each channel's new version and
prints it. Exit status: 0 when every channel runs the folder's text, 1 on lint errors, when no
engine runs, or when the engine did not deploy within --wait-ms, 2 for a usage error.

With --server the running engine compiles and deploys its own channel folder through the admin
API (the key needs channels:write; the ledger records the key or user as who deployed): the same
lines, a summary on stderr, exit 1 when the folder has errors (nothing changed) or the server
refuses.`;

interface DeployOptions {
  server?: string;
  channels: string;
  data?: string;
  env?: string;
  transformers?: string[];
  waitMs: string;
}

export function registerDeploy(program: Command): void {
  program
    .command('deploy')
    .description('lint the channel folder, then have the running engine deploy what changed (no restart)')
    .addOption(new Option('--channels <dir>', 'the engine’s channel folder').default('channels'))
    .addOption(new Option('--data <dir>', 'the engine’s data folder (SINEW_DATA_DIR): pid file and ledger'))
    .addOption(new Option('--env <name>', 'environment whose values file fills ${VAR} (SINEW_ENV)'))
    .addOption(new Option('--transformers <dir...>', 'extra transformer folders, as sinew start takes them'))
    .addOption(new Option('--wait-ms <ms>', 'how long to wait for the engine to deploy').default('30000'))
    .addOption(
      new Option(
        '--server <url>',
        'have a running engine deploy its channel folder (admin API, SINEW_TOKEN)',
      ),
    )
    .addHelpText('after', EXAMPLES)
    .action(async (options: DeployOptions) => {
      if (options.server) return deployOnServer(options.server);
      let env: ChannelEnvironment;
      try {
        env = loadEnvironment(process.env, { ...(options.env ? { name: options.env } : {}), strict: true });
      } catch (err) {
        process.stderr.write(`sinew deploy: ${(err as EnvironmentError).message}\n`);
        process.exit(2);
      }
      const set = compileChannelDir(
        resolve(options.channels),
        builtInRegistries(options.transformers ?? []),
        { env },
      );
      for (const p of sortProblems(set.problems)) process.stdout.write(`${formatProblem(p)}\n`);
      if (hasErrors(set.problems)) {
        process.stderr.write('sinew deploy: the channels have errors; nothing was deployed\n');
        process.exit(1);
      }
      const { store, dataDir } = await openCliLedger('deploy', options.data);
      try {
        const signal = signalEngine(dataDir, 'the channel folder');
        process.stderr.write(`${signal.line}\n`);
        if (signal.failed || signal.line.startsWith('no ')) {
          process.exitCode = 1;
          return;
        }
        const until = Date.now() + (Number(options.waitMs) || 30_000);
        const pending = new Map(set.channels.map((c) => [c.id, c.hash]));
        while (pending.size > 0 && Date.now() < until) {
          for (const [id, hash] of [...pending]) {
            const latest = await store.latestDeployment(id);
            if (latest && latest.contentHash === hash && latest.outcome === 'deployed') {
              process.stdout.write(
                `${id}\tversion ${latest.version}\t${latest.deployedBy}\t${hash.slice(0, 12)}\n`,
              );
              pending.delete(id);
            }
          }
          if (pending.size) await new Promise((r) => setTimeout(r, 100));
        }
        if (pending.size) {
          process.stderr.write(
            `sinew deploy: not deployed within ${options.waitMs} ms: ${[...pending.keys()].join(', ')} (see the engine's log)\n`,
          );
          process.exitCode = 1;
        }
      } finally {
        await store.close();
      }
    });
}

/** The admin API's deploy report (POST /api/v1/channels/deploy, and rollback). */
export interface ServerDeployReport {
  channels: Array<{
    id: string;
    change: string;
    version?: number;
    deployed_by?: string;
    content_hash?: string;
  }>;
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
  problems: LintProblem[];
}

/** The report as sinew deploy prints it: findings, then one line per channel; a summary on stderr. */
export function printServerDeploy(r: ServerDeployReport): void {
  for (const p of r.problems) process.stdout.write(`${formatProblem(p)}\n`);
  for (const c of r.channels)
    process.stdout.write(
      `${c.id}\tversion ${c.version ?? '-'}\t${c.deployed_by ?? '-'}\t${(c.content_hash ?? '-').slice(0, 12)}\n`,
    );
  process.stderr.write(
    `deployed: ${r.added.length} added, ${r.changed.length} changed, ${r.removed.length} removed` +
      `${r.removed.length ? ` (${r.removed.join(', ')})` : ''}, ${r.unchanged.length} unchanged\n`,
  );
}

/**
 * A refusal because the channels have errors (422 with `problems`): prints the findings and
 * returns true; other refusals are left to withApiErrors.
 */
export function printLintRefusal(command: string, err: unknown, what: string): boolean {
  const problems = err instanceof ApiCallError ? err.problem?.problems : undefined;
  if (!(err instanceof ApiCallError) || err.status !== 422 || !Array.isArray(problems)) return false;
  for (const p of problems as LintProblem[]) process.stdout.write(`${formatProblem(p)}\n`);
  process.stderr.write(`sinew ${command}: ${what}\n`);
  process.exitCode = 1;
  return true;
}

async function deployOnServer(server: string): Promise<void> {
  await withApiErrors('deploy', async () => {
    try {
      printServerDeploy(
        await callApi<ServerDeployReport>('deploy', server, 'POST', '/api/v1/channels/deploy'),
      );
      process.exitCode = 0;
    } catch (err) {
      if (!printLintRefusal('deploy', err, 'the channels have errors; nothing was deployed')) throw err;
    }
  });
}
