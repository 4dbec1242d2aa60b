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
} from '@sinew/channels';
import { openCliLedger } from './history.command';
import { signalEngine } from './rollback.command';

const EXAMPLES = `
Examples:
  $ sinew deploy                                  # channels/ into the engine whose data folder is ./data
  $ sinew deploy --channels /etc/sinew/channels --data /var/lib/sinew --env production

The channel folder is compiled first, as sinew lint and the engine compile it: with an error,
nothing is sent and the findings are printed (exit 1). Otherwise the running engine (its pid
file <data>/sinew.pid) is sent SIGHUP, compiles the same folder and deploys what changed
without a restart; the command waits until the ledger records each channel's new version and
prints it. Exit status: 0 when every channel runs the folder's text, 1 on lint errors, when no
engine runs, or when the engine did not deploy within --wait-ms, 2 for a usage error.`;

interface DeployOptions {
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
    .addHelpText('after', EXAMPLES)
    .action(async (options: DeployOptions) => {
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
