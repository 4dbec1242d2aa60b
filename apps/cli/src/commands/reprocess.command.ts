import { Option, type Command } from 'commander';
import { REPROCESSABLE_STATUSES, type MessageRecord, type MessageStatus } from '@sinew/store';
import { openCliLedger } from './history.command';

const EXAMPLES = `
Examples:
  $ sinew reprocess --message 0192f0c1-…                      # one message
  $ sinew reprocess --channel lab-results --status errored --since 24h
  $ sinew reprocess --channel lab-results --status rejected --list   # show, do not reprocess

Messages that ended errored, rejected or filtered go back to received: the running engine's
recovery sweep (every SINEW_SWEEP_INTERVAL_MS, 5 s by default) runs their pipeline again on the
channel version deployed now. Each earlier outcome is kept in the message's outcome history.
Exit status: 0 when something matched, 1 when nothing did, 2 for a usage error.`;

interface ReprocessOptions {
  message?: string[];
  channel?: string;
  status?: string[];
  since?: string;
  until?: string;
  limit: string;
  list?: boolean;
  data?: string;
}

/** `24h`, `30m`, `7d` before now, or an ISO date/time. */
function parseWhen(text: string): Date | undefined {
  const m = /^(\d+)\s*(m|h|d)$/.exec(text.trim());
  if (m)
    return new Date(
      Date.now() - Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'],
    );
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : new Date(t);
}

function line(m: MessageRecord): string {
  const first = m.issues.find((i) => i.severity === 'error');
  return `${m.id}\t${m.channelId}\t${m.receivedAt.toISOString()}\t${m.messageType ?? ''}\t${m.status}\t${first?.code ?? ''}`;
}

export function registerReprocess(program: Command): void {
  program
    .command('reprocess')
    .description('run the pipeline again for messages that ended errored, rejected or filtered')
    .addOption(new Option('--message <id...>', 'these messages'))
    .addOption(new Option('--channel <id>', 'the messages of this channel'))
    .addOption(
      new Option('--status <status...>', 'only these outcomes (default: errored rejected filtered)').choices([
        ...REPROCESSABLE_STATUSES,
      ]),
    )
    .addOption(new Option('--since <when>', 'received at or after: 24h, 30m, 7d ago, or an ISO time'))
    .addOption(new Option('--until <when>', 'received before: 24h, 30m, 7d ago, or an ISO time'))
    .addOption(new Option('--limit <n>', 'at most this many').default('1000'))
    .addOption(new Option('--list', 'list the matching messages, do not reprocess'))
    .addOption(new Option('--data <dir>', 'engine data folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'))
    .addHelpText('after', EXAMPLES)
    .action(async (options: ReprocessOptions) => {
      if (!options.message?.length && !options.channel) {
        process.stderr.write('sinew reprocess: give --message or --channel\n');
        process.exit(2);
      }
      const since = options.since === undefined ? undefined : parseWhen(options.since);
      const until = options.until === undefined ? undefined : parseWhen(options.until);
      if ((options.since && !since) || (options.until && !until)) {
        process.stderr.write('sinew reprocess: --since and --until take 24h, 30m, 7d or an ISO time\n');
        process.exit(2);
      }
      const statuses = (options.status ?? [...REPROCESSABLE_STATUSES]) as MessageStatus[];
      const { store } = await openCliLedger('reprocess', options.data);
      try {
        let matches: MessageRecord[] = [];
        if (options.message?.length) {
          for (const id of options.message) {
            const m = await store.getMessage(id);
            if (m && statuses.includes(m.status)) matches.push(m);
          }
        } else {
          matches = await store.searchMessages({
            ...(options.channel ? { channelId: options.channel } : {}),
            statuses,
            ...(since ? { since } : {}),
            ...(until ? { until } : {}),
            limit: Number(options.limit) || 1000,
          });
        }
        const reset = options.list ? [] : await store.reprocessMessages(matches.map((m) => m.id));
        for (const m of matches) process.stdout.write(`${options.list ? '' : 'reprocess\t'}${line(m)}\n`);
        process.stderr.write(
          matches.length === 0
            ? 'sinew reprocess: no errored, rejected or filtered message matched\n'
            : options.list
              ? `${matches.length} matched\n`
              : `${reset.length} set back to received; the engine runs their pipeline at its next recovery sweep\n`,
        );
        process.exitCode = matches.length === 0 ? 1 : 0;
      } finally {
        await store.close();
      }
    });
}
