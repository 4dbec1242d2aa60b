import { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded when needed: a run of one command loads that command's modules
 * only (the database, NestJS and the rest stay unloaded for `sinew lint`). The order is that of
 * `sinew --help`.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  inspect: async () => (await import('./commands/inspect.command')).registerInspect,
  send: async () => (await import('./commands/send.command')).registerSend,
  convert: async () => (await import('./commands/convert.command')).registerConvert,
  test: async () => (await import('./commands/test.command')).registerTest,
  listen: async () => (await import('./commands/listen.command')).registerListen,
  start: async () => (await import('./commands/start.command')).registerStart,
  replay: async () => (await import('./commands/replay.command')).registerReplay,
  history: async () => (await import('./commands/history.command')).registerHistory,
  rollback: async () => (await import('./commands/rollback.command')).registerRollback,
  lint: async () => (await import('./commands/lint.command')).registerLint,
  diff: async () => (await import('./commands/diff.command')).registerDiff,
  deploy: async () => (await import('./commands/deploy.command')).registerDeploy,
  reprocess: async () => (await import('./commands/reprocess.command')).registerReprocess,
  config: async () => (await import('./commands/config.command')).registerConfig,
  messages: async () => (await import('./commands/messages.command')).registerMessages,
  channels: async () => (await import('./commands/channels.command')).registerChannels,
  users: async () => (await import('./commands/users.command')).registerUsers,
  keys: async () => (await import('./commands/keys.command')).registerKeys,
  clients: async () => (await import('./commands/clients.command')).registerClients,
  apps: async () => (await import('./commands/apps.command')).registerApps,
  audit: async () => (await import('./commands/audit.command')).registerAudit,
  reconcile: async () => (await import('./commands/reconcile.command')).registerReconcile,
  import: async () => (await import('./commands/import.command')).registerImport,
  sandbox: async () => (await import('./commands/sandbox.command')).registerSandbox,
};

declare const SINEW_VERSION: string;

/** The program with every command, or with `only` when it names one. */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command('sinew')
    .description('Sinew: HL7 v2 / FHIR integration engine')
    .version(typeof SINEW_VERSION === 'string' ? SINEW_VERSION : '0.0.0-dev');
  const named = only !== undefined && Object.hasOwn(COMMANDS, only) ? COMMANDS[only] : undefined;
  const loaders = named ? [named] : Object.values(COMMANDS);
  for (const register of await Promise.all(loaders.map((load) => load()))) register(program);
  return program;
}

buildProgram(process.argv[2])
  .then((program) => program.parseAsync(process.argv))
  .catch((err: unknown) => {
    process.stderr.write(`sinew: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  });
