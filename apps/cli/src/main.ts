import { Command } from 'commander';
import { registerInspect } from './commands/inspect.command';
import { registerSend } from './commands/send.command';
import { registerConvert } from './commands/convert.command';
import { registerTest } from './commands/test.command';
import { registerListen } from './commands/listen.command';
import { registerStart } from './commands/start.command';
import { registerReplay } from './commands/replay.command';
import { registerHistory } from './commands/history.command';
import { registerRollback } from './commands/rollback.command';
import { registerLint } from './commands/lint.command';
import { registerDiff } from './commands/diff.command';
import { registerDeploy } from './commands/deploy.command';
import { registerReprocess } from './commands/reprocess.command';
import { registerConfig } from './commands/config.command';
import { registerMessages } from './commands/messages.command';
import { registerChannels } from './commands/channels.command';
import { registerUsers } from './commands/users.command';
import { registerClients } from './commands/clients.command';
import { registerKeys } from './commands/keys.command';
import { registerAudit } from './commands/audit.command';

declare const SINEW_VERSION: string;

export function buildProgram(): Command {
  const program = new Command('sinew')
    .description('Sinew: HL7 v2 / FHIR integration engine')
    .version(typeof SINEW_VERSION === 'string' ? SINEW_VERSION : '0.0.0-dev');
  registerInspect(program);
  registerSend(program);
  registerConvert(program);
  registerTest(program);
  registerListen(program);
  registerStart(program);
  registerReplay(program);
  registerHistory(program);
  registerRollback(program);
  registerLint(program);
  registerDiff(program);
  registerDeploy(program);
  registerReprocess(program);
  registerConfig(program);
  registerMessages(program);
  registerChannels(program);
  registerUsers(program);
  registerKeys(program);
  registerClients(program);
  registerAudit(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`sinew: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  });
