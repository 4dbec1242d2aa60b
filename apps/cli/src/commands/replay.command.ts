import { Option, type Command } from 'commander';
import type { DeliveryRecord } from '@sinew/store';
import { callApi, withApiErrors } from './api-client';
import { openCliLedger } from './history.command';

const EXAMPLES = `
Examples:
  $ sinew replay --message 0192f0c1-…                 # every dead-lettered delivery of one message
  $ sinew replay --delivery 0192f0c1-….ehr            # one delivery
  $ sinew replay --channel lab-results --destination ehr   # a destination's whole dead-letter list
  $ sinew replay --channel lab-results --list         # show, do not replay
  $ SINEW_TOKEN=snw_… sinew replay --server http://sinew:8080 --message 0192f0c1-…

A replayed delivery goes back to pending in the ledger; the running engine's recovery sweep
(every SINEW_SWEEP_INTERVAL_MS, 5 s by default) sends it again. With --server the running
engine's admin API does it (the key in SINEW_TOKEN needs messages:replay; --list counts what a
--channel replay would touch) and sends them at once. Exit status: 0 when something
matched, 1 when nothing did or there is no ledger, 2 for a usage error.`;

interface ReplayOptions {
  message?: string;
  delivery?: string;
  channel?: string;
  destination?: string;
  data?: string;
  server?: string;
  list?: boolean;
  limit: string;
}

function line(d: DeliveryRecord): string {
  return `${d.id}\t${d.channelId}\t${d.destination}\tattempts=${d.attempts}\t${d.lastError ?? ''}`;
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('re-deliver dead-lettered deliveries (one, a message\u2019s, or a destination\u2019s list)')
    .addOption(new Option('--message <id>', 'the dead-lettered deliveries of this message'))
    .addOption(new Option('--delivery <id>', 'this delivery'))
    .addOption(new Option('--channel <id>', 'the dead letters of this channel'))
    .addOption(new Option('--destination <name>', '… of this destination'))
    .addOption(
      new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
    )
    .addOption(new Option('--server <url>', 'replay through a running engine\u2019s admin API (SINEW_TOKEN)'))
    .addOption(new Option('--list', 'list the matching dead letters, do not replay'))
    .addOption(new Option('--limit <n>', 'at most this many').default('1000'))
    .addHelpText('after', EXAMPLES)
    .action(async (options: ReplayOptions) => {
      if (!options.message && !options.delivery && !options.channel) {
        process.stderr.write('sinew replay: give --message, --delivery or --channel\n');
        process.exit(2);
      }
      if (options.server) {
        const server = options.server;
        await withApiErrors('replay', async () => {
          let requeued: string[];
          if (options.delivery || options.message) {
            if (options.list) {
              process.stderr.write('sinew replay: --list with --server goes with --channel\n');
              process.exit(2);
            }
            const path = options.delivery
              ? `/api/v1/deliveries/${encodeURIComponent(options.delivery)}/replay`
              : `/api/v1/messages/${encodeURIComponent(options.message as string)}/replay`;
            requeued = (await callApi<{ requeued: string[] }>('replay', server, 'POST', path)).requeued;
          } else {
            const r = await callApi<{ count: number; requeued: string[] }>(
              'replay',
              server,
              'POST',
              '/api/v1/dead-letters/replay',
              {
                channel: options.channel,
                ...(options.destination ? { destination: options.destination } : {}),
                dry_run: options.list === true,
              },
            );
            if (options.list) {
              process.stderr.write(`${r.count} dead-lettered\n`);
              process.exitCode = r.count === 0 ? 1 : 0;
              return;
            }
            requeued = r.requeued;
          }
          for (const id of requeued) process.stdout.write(`replayed\t${id}\n`);
          process.stderr.write(
            requeued.length === 0
              ? 'sinew replay: no dead-lettered delivery matched\n'
              : `${requeued.length} replayed\n`,
          );
          process.exitCode = requeued.length === 0 ? 1 : 0;
        });
        return;
      }
      const { store } = await openCliLedger('replay', options.data);
      try {
        let matches: DeliveryRecord[];
        if (options.delivery) {
          const d = await store.getDelivery(options.delivery);
          matches = d && d.status === 'dead_lettered' ? [d] : [];
        } else {
          matches = await store.listDeadLetters({
            ...(options.channel ? { channelId: options.channel } : {}),
            ...(options.destination ? { destination: options.destination } : {}),
            ...(options.message ? { messageId: options.message } : {}),
            limit: Number(options.limit) || 1000,
          });
        }
        for (const d of matches) {
          if (!options.list) await store.requeueDelivery(d.id);
          process.stdout.write(`${options.list ? '' : 'replayed\t'}${line(d)}\n`);
        }
        process.stderr.write(
          matches.length === 0
            ? 'sinew replay: no dead-lettered delivery matched\n'
            : options.list
              ? `${matches.length} dead-lettered\n`
              : `${matches.length} replayed; the engine sends them at its next recovery sweep\n`,
        );
        process.exitCode = matches.length === 0 ? 1 : 0;
      } finally {
        await store.close();
      }
    });
}
