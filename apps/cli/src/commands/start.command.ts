import { Option, type Command } from 'commander';
import { ChannelError } from '@sinew/channels';
import { MappingError } from '@sinew/mapping';
import { ConfigError, loadConfig } from '@sinew/engine-app/config';

const EXAMPLES = `
Examples:
  $ sinew start                                   # every role, embedded ledger and queue
  $ sinew start --channels ./channels --data /var/lib/sinew
  $ DATABASE_URL=postgres://… REDIS_URL=redis://… sinew start --roles sources
  $ DATABASE_URL=postgres://… REDIS_URL=redis://… sinew start --roles workers,scheduler

Settings come from the environment (SINEW_*, DATABASE_URL, REDIS_URL); each flag sets one of
them. Exit status: 0 after a graceful stop (SIGTERM/SIGINT), 1 when start-up fails (every
problem is listed). Reference: docs/engine.md`;

interface StartOptions {
  channels?: string;
  data?: string;
  reconciliations?: string;
  roles?: string;
  httpPort?: string;
  httpHost?: string;
  transformers?: string[];
  watch?: boolean;
  env?: string;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the engine: receive, commit, acknowledge, transform and deliver')
    .addOption(
      new Option('--channels <dir>', 'folder of channel files (SINEW_CHANNELS_DIR, default channels)'),
    )
    .addOption(new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR, default data)'))
    .addOption(
      new Option(
        '--reconciliations <dir>',
        'folder of reconciliation files (SINEW_RECONCILIATIONS_DIR, default reconciliations)',
      ),
    )
    .addOption(
      new Option('--roles <list>', 'roles to run: sources,workers,scheduler (SINEW_ROLES, default all)'),
    )
    .addOption(
      new Option('--http-port <port>', 'port of /health, /ready, /metrics (SINEW_HTTP_PORT, default 8080)'),
    )
    .addOption(
      new Option(
        '--http-host <host>',
        'address of /health, /ready, /metrics (SINEW_HTTP_HOST, default 127.0.0.1)',
      ),
    )
    .addOption(new Option('--transformers <dir...>', 'extra transformer folders (SINEW_TRANSFORMERS_DIRS)'))
    .addOption(new Option('--watch', 'redeploy channels when their files change (SINEW_WATCH)'))
    .addOption(new Option('--env <name>', 'environment whose values file fills ${VAR} (SINEW_ENV)'))
    .addHelpText('after', EXAMPLES)
    .action(async (options: StartOptions) => {
      const env = { ...process.env };
      if (options.channels) env.SINEW_CHANNELS_DIR = options.channels;
      if (options.data) env.SINEW_DATA_DIR = options.data;
      if (options.reconciliations) env.SINEW_RECONCILIATIONS_DIR = options.reconciliations;
      if (options.roles) env.SINEW_ROLES = options.roles;
      if (options.httpPort) env.SINEW_HTTP_PORT = options.httpPort;
      if (options.httpHost) env.SINEW_HTTP_HOST = options.httpHost;
      if (options.transformers) env.SINEW_TRANSFORMERS_DIRS = options.transformers.join(',');
      if (options.watch) env.SINEW_WATCH = 'true';
      if (options.env) process.env.SINEW_ENV = options.env;
      try {
        const config = loadConfig(env);
        // Loaded here so that the other commands start without NestJS and the ledger.
        const { startEngine } = await import('@sinew/engine-app/run');
        const running = await startEngine(config);
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals++;
          if (signals > 1) process.exit(130);
          running.logger.info({ signal }, 'signal received');
          void running.stop().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        // SIGHUP: compile the channel folder again and deploy what changed, without a restart.
        process.on('SIGHUP', () => void running.reload('signal'));
      } catch (err) {
        if (err instanceof ChannelError) {
          process.stderr.write(`sinew: channels do not compile:\n${err.message}\n`);
        } else if (err instanceof ConfigError || err instanceof MappingError) {
          process.stderr.write(`sinew: ${err.message}\n`);
        } else {
          process.stderr.write(
            `sinew: start-up failed: ${err instanceof Error ? err.message : String(err)}\n`,
          );
        }
        process.exit(1);
      }
    });
}
