import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { EnvironmentError } from '@sinew/channels';
import {
  builtInRegistries,
  compileChannelDir,
  formatProblem,
  loadEnvironment,
  maskSecrets,
  sortProblems,
  type ChannelEnvironment,
} from '@sinew/channels';
import { stringify } from 'yaml';

const EXAMPLES = `
Examples:
  $ sinew config show                             # channels/ as the engine would deploy them
  $ sinew config show --env production            # with environments/production.yaml's values

Every \${VAR}, \${VAR:-default} and \${file:PATH} replaced by its value, as YAML, one document per
channel. Values read from secret files (\${file:…}) and from variables named like secrets
(…PASSWORD, …SECRET, …TOKEN, …API_KEY, …PRIVATE…, …CREDENTIAL…) are shown as ******. Exit
status: 0 when every channel compiles, 1 when one does not (its findings are printed), 2 for a
usage error.`;

interface ConfigShowOptions {
  channels: string;
  env?: string;
  transformers?: string[];
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('show the configuration the engine would run');
  config
    .command('show')
    .description('the channels with every ${…} resolved, secrets masked')
    .addOption(new Option('--channels <dir>', 'the channel folder').default('channels'))
    .addOption(new Option('--env <name>', 'environment whose values file fills ${VAR} (SINEW_ENV)'))
    .addOption(new Option('--transformers <dir...>', 'extra transformer folders, as sinew start takes them'))
    .addHelpText('after', EXAMPLES)
    .action((options: ConfigShowOptions) => {
      let env: ChannelEnvironment;
      try {
        env = loadEnvironment(process.env, { ...(options.env ? { name: options.env } : {}), strict: true });
      } catch (err) {
        process.stderr.write(`sinew config: ${(err as EnvironmentError).message}\n`);
        process.exit(2);
      }
      const set = compileChannelDir(
        resolve(options.channels),
        builtInRegistries(options.transformers ?? []),
        { env },
      );
      const secrets = new Set<string>();
      for (const c of [...set.channels, ...set.disabled]) for (const s of c.secrets) secrets.add(s);
      const docs = [...set.channels, ...set.disabled].map(
        (c) => `# ${c.file}${env.name ? ` (environment ${env.name})` : ''}\n${stringify(c.resolved)}`,
      );
      process.stdout.write(maskSecrets(docs.join('---\n'), secrets));
      const problems = sortProblems(set.problems);
      for (const p of problems) process.stderr.write(`${maskSecrets(formatProblem(p), secrets)}\n`);
      process.exitCode = problems.some((p) => p.severity === 'error') ? 1 : 0;
    });
}
