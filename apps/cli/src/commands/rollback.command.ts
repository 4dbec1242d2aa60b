import { existsSync, readFileSync, renameSync, statSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { callApi, withApiErrors } from './api-client';
import { printLintRefusal, printServerDeploy, type ServerDeployReport } from './deploy.command';
import { openCliLedger, parseVersion } from './history.command';

const EXAMPLES = `
Examples:
  $ sinew history lab-results                  # find the version to go back to
  $ sinew rollback lab-results --to 3          # write version 3's text back and redeploy it
  $ SINEW_TOKEN=snw_… sinew rollback lab-results 3 --server http://sinew:8080

The channel's file (where its latest deployment was read from) gets that version's text again,
and the ledger records it as a new version deployed by "rollback". A running engine whose pid
file is in the data folder (<data>/sinew.pid) is sent SIGHUP and redeploys the file; otherwise
the engine deploys it when it next starts. Exit status: 0 when the file was written, 1 when the
version does not exist or was refused, the channel's file is gone (give --file), or the engine
could not be signalled, 2 for a usage error.

With --server the running engine does it through the admin API (the key needs channels:write):
the channel's file in its channel folder gets the version's text and the folder is redeployed,
recorded as deployed by the key or user. When the folder then has errors the file gets its text
back and nothing changes (the findings are printed, exit 1).`;

/** The engine's pid file in its data folder. */
export const PID_FILE_NAME = 'sinew.pid';

interface RollbackOptions {
  server?: string;
  to?: string;
  data?: string;
  file?: string;
}

/** Replaces the file's content at once (a watcher never reads half of it), keeping its mode. */
function writeAtomically(path: string, text: string): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, text, 'utf8');
    if (existsSync(path)) chmodSync(temporary, statSync(path).mode & 0o7777);
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}

/** What became of the signal: the line to print, and whether it failed. */
export function signalEngine(dataDir: string, channel: string): { line: string; failed: boolean } {
  const pidFile = join(dataDir, PID_FILE_NAME);
  if (!existsSync(pidFile)) {
    return {
      line: `no running engine found (no ${pidFile}): it deploys ${channel} when it starts`,
      failed: false,
    };
  }
  const match = /^\s*(\d+)\s*$/.exec(readFileSync(pidFile, 'utf8'));
  const pid = match ? Number(match[1]) : 0;
  if (!(pid > 0))
    return { line: `${pidFile} holds no process id; the engine was not signalled`, failed: true };
  try {
    process.kill(pid, 'SIGHUP');
    return { line: `sent SIGHUP to the engine (pid ${pid}): it redeploys ${channel}`, failed: false };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') {
      return {
        line: `no engine runs as pid ${pid} (stale ${pidFile}): it deploys ${channel} when it starts`,
        failed: false,
      };
    }
    return { line: `could not signal the engine (pid ${pid}): ${code ?? String(err)}`, failed: true };
  }
}

export function registerRollback(program: Command): void {
  program
    .command('rollback')
    .description('put an earlier version of a channel back: its file, its ledger record, the running engine')
    .argument('<channel>', 'channel id')
    .argument('[version]', 'the version to go back to (or --to)')
    .addOption(new Option('--to <version>', 'the version to go back to (see sinew history)'))
    .addOption(
      new Option('--server <url>', 'have a running engine roll back (admin API, SINEW_TOKEN)').conflicts([
        'file',
        'data',
      ]),
    )
    .addOption(new Option('--file <path>', "write there instead of the channel's recorded file"))
    .addOption(
      new Option(
        '--data <dir>',
        'engine data folder (SINEW_DATA_DIR): ledger and pid file; DATABASE_URL for PostgreSQL',
      ),
    )
    .addHelpText('after', EXAMPLES)
    .action(async (channel: string, positional: string | undefined, options: RollbackOptions) => {
      if (positional !== undefined && options.to !== undefined && positional !== options.to) {
        process.stderr.write('sinew rollback: give the version once (VERSION or --to)\n');
        process.exit(2);
      }
      const to = options.to ?? positional;
      const version = to === undefined ? undefined : parseVersion(to);
      if (version === undefined) {
        process.stderr.write(
          to === undefined
            ? 'sinew rollback: give --to VERSION\n'
            : `sinew rollback: --to takes a version number, not ${to}\n`,
        );
        process.exit(2);
      }
      if (options.server) {
        const server = options.server;
        await withApiErrors('rollback', async () => {
          try {
            const r = await callApi<ServerDeployReport & { file_written: boolean }>(
              'rollback',
              server,
              'POST',
              `/api/v1/channels/${encodeURIComponent(channel)}/rollback`,
              { version },
            );
            process.stdout.write(
              r.file_written
                ? `${channel}: wrote the text of version ${version} to the engine's channel file\n`
                : `the engine's channel file already holds the text of version ${version}\n`,
            );
            printServerDeploy(r);
            process.exitCode = 0;
          } catch (err) {
            const what = `version ${version} of ${channel} does not deploy now; nothing changed`;
            if (!printLintRefusal('rollback', err, what)) throw err;
          }
        });
        return;
      }
      const { store, dataDir } = await openCliLedger('rollback', options.data);
      try {
        const target = await store.getDeployment(channel, version);
        if (!target) {
          process.stderr.write(`sinew rollback: channel ${channel} has no version ${version}\n`);
          process.exitCode = 1;
          return;
        }
        if (target.outcome !== 'deployed') {
          process.stderr.write(
            `sinew rollback: version ${version} of ${channel} was refused; go back to a deployed version\n`,
          );
          process.exitCode = 1;
          return;
        }
        // The file the channel is read from now (it may have moved since that version).
        const [latest] = await store.listDeployments(channel, 1);
        const running = await store.latestDeployment(channel);
        const path = resolve(options.file ?? latest?.filePath ?? target.filePath);
        if (options.file === undefined && !existsSync(path)) {
          // Moved or deleted: writing there could leave two files for one channel.
          process.stderr.write(
            `sinew rollback: the channel's file ${path} does not exist (moved?); give --file PATH\n`,
          );
          process.exitCode = 1;
          return;
        }
        const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
        if (current === target.content) {
          process.stdout.write(`${path} already holds the text of version ${version}\n`);
        } else {
          writeAtomically(path, target.content);
          process.stdout.write(
            `${channel}: wrote the text of version ${version} to ${path}` +
              (running ? ` (version ${running.version} was deployed)` : '') +
              '\n',
          );
        }
        const recorded = await store.recordDeployment({
          channelId: channel,
          content: target.content,
          filePath: path,
          deployedBy: 'rollback',
          deployedAt: new Date(),
          outcome: 'deployed',
        });
        process.stdout.write(
          recorded.version === running?.version
            ? `version ${recorded.version} is already the deployed one\n`
            : `recorded as version ${recorded.version} (by rollback)\n`,
        );
        const signal = signalEngine(dataDir, channel);
        (signal.failed ? process.stderr : process.stdout).write(
          `${signal.failed ? 'sinew rollback: ' : ''}${signal.line}\n`,
        );
        process.exitCode = signal.failed ? 1 : 0;
      } finally {
        await store.close();
      }
    });
}
