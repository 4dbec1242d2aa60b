import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { builtInRegistries, compileChannelDir, loadEnvironment } from '@sinew/channels';
import { callApi, withApiErrors } from './api-client';
import { openCliLedger } from './history.command';

const EXAMPLES = `
Examples:
  $ sinew channels list                                        # channels/ with the ledger's counters
  $ SINEW_TOKEN=snw_… sinew channels list --server http://sinew:8080
  $ sinew channels pause lab-results                           # the sender is told to send again later
  $ sinew channels resume lab-results --server http://sinew:8080

With --server: what the running engine has deployed (the key needs channels:read). Without:
the channel folder as the engine would deploy it, and the local ledger's counters (--data DIR,
or DATABASE_URL). Counters are the last 24 hours' messages by status and the unfinished
deliveries.

pause: the channel's source answers every message "send again later" (MLLP AR, CE in enhanced
mode; HTTP 503 with Retry-After) and stores nothing, and its deliveries hold; resume takes input
again and sends the held deliveries at once. With --server the engine applies it at once (the
key needs channels:operate); on the local ledger every running engine process applies it within
its sweep interval (SINEW_SWEEP_INTERVAL_MS, 5 s by default). Exit status: 0, 1 when the server
refused, 2 for a usage error.`;

interface Row {
  id: string;
  paused?: boolean;
  version?: number;
  source: { type: string; listening?: string };
  destinations: Array<{ name: string; type: string; ordering: string }>;
  counts: { messages: Record<string, number>; open_deliveries: Record<string, number> };
}

function line(c: Row): string {
  const n = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-';
  return [
    c.paused ? `${c.id} (paused)` : c.id,
    c.version !== undefined ? `v${c.version}` : '-',
    c.source.listening ?? c.source.type,
    c.destinations
      .map((d) => `${d.name}(${d.type}${d.ordering !== 'none' ? `, ordered by ${d.ordering}` : ''})`)
      .join(' '),
    n(c.counts.messages),
    n(c.counts.open_deliveries),
  ].join('\t');
}

export function registerChannels(program: Command): void {
  const channels = program.command('channels').description('the channels and their counters');
  channels
    .command('list')
    .description('channels with their source, destinations and counters')
    .addOption(new Option('--server <url>', 'ask a running engine\u2019s admin API (SINEW_TOKEN)'))
    .addOption(new Option('--channels <dir>', 'the channel folder (without --server)').default('channels'))
    .addOption(
      new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
    )
    .addOption(new Option('--json', 'one JSON object per line'))
    .addHelpText('after', EXAMPLES)
    .action(async (o: { server?: string; channels: string; data?: string; json?: boolean }) => {
      await withApiErrors('channels', async () => {
        let rows: Row[];
        if (o.server) {
          rows = (await callApi<{ items: Row[] }>('channels', o.server, 'GET', '/api/v1/channels')).items;
        } else {
          const set = compileChannelDir(resolve(o.channels), builtInRegistries([]), {
            env: loadEnvironment(process.env),
          });
          const { store } = await openCliLedger('channels', o.data);
          try {
            const since = new Date(Date.now() - 24 * 3600_000);
            const paused = new Set((await store.listPausedChannels()).map((p) => p.channelId));
            rows = [];
            for (const c of set.channels) {
              const n = await store.channelCounts(c.id, since);
              rows.push({
                id: c.id,
                paused: paused.has(c.id),
                source: { type: c.source.type },
                destinations: c.destinations.map((d) => ({
                  name: d.name,
                  type: d.type,
                  ordering: d.ordering.kind,
                })),
                counts: { messages: n.messages, open_deliveries: n.openDeliveries },
              });
            }
          } finally {
            await store.close();
          }
        }
        for (const r of rows) process.stdout.write(`${o.json ? JSON.stringify(r) : line(r)}\n`);
      });
    });

  for (const [verb, pause] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    channels
      .command(`${verb} <id>`)
      .description(
        pause
          ? 'pause a channel: new input refused (send again later), deliveries held'
          : 'resume a paused channel: input taken again, held deliveries sent',
      )
      .addOption(new Option('--server <url>', 'through a running engine\u2019s admin API (SINEW_TOKEN)'))
      .addOption(
        new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
      )
      .addHelpText('after', EXAMPLES)
      .action(async (id: string, o: { server?: string; data?: string }) => {
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(id)) {
          process.stderr.write(`sinew channels: ${JSON.stringify(id)} is not a channel id\n`);
          process.exit(2);
        }
        await withApiErrors('channels', async () => {
          if (o.server) {
            await callApi('channels', o.server, 'POST', `/api/v1/channels/${encodeURIComponent(id)}/${verb}`);
          } else {
            const { store } = await openCliLedger('channels', o.data);
            try {
              await store.setChannelPaused(id, pause, `cli:${process.env.USER ?? 'unknown'}`, new Date());
            } finally {
              await store.close();
            }
          }
          process.stdout.write(`${id} ${pause ? 'paused' : 'resumed'}\n`);
        });
      });
  }
}
