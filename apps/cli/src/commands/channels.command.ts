import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { builtInRegistries, compileChannelDir, loadEnvironment } from '@sinew/channels';
import { statsBody, statsWindow, type StatsResponse } from '@sinew/engine-app/api/stats-format';
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

  channels
    .command('stats <id>')
    .description('a channel\u2019s statistics from the ledger: per hour, the queue, latency percentiles')
    .addOption(new Option('--server <url>', 'ask a running engine\u2019s admin API (SINEW_TOKEN)'))
    .addOption(new Option('--since <time>', 'start of the window (ISO 8601; default 7 days before --until)'))
    .addOption(new Option('--until <time>', 'end of the window (ISO 8601; default now; at most 31 days)'))
    .addOption(
      new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
    )
    .addOption(new Option('--json', 'the statistics as one JSON object (every hour, as the API answers)'))
    .addHelpText(
      'after',
      `
Examples:
  $ sinew channels stats lab-results                                     # the last 7 days
  $ sinew channels stats lab-results --since 2026-12-01T00:00:00Z --json
  $ SINEW_TOKEN=snw_… sinew channels stats lab-results --server http://sinew:8080

Received, filtered, rejected and errored count the messages received in each hour; sent and
dead-lettered the deliveries whose attempt finished in it. Queued: the deliveries not finished
now. ACK latency: receipt to the ledger commit the ACK follows (ack.when: received); end to
end: receipt to each delivery sent. Read from the ledger, so they survive restarts. The table
lists the hours with traffic; --json lists every hour. With --server the key needs
channels:read. Exit status: 0, 1 when the server refused, 2 for a usage error.`,
    )
    .action(
      async (
        id: string,
        o: { server?: string; since?: string; until?: string; data?: string; json?: boolean },
      ) => {
        const usage = (message: string): never => {
          process.stderr.write(`sinew channels: ${message}\n`);
          process.exit(2);
        };
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(id))
          usage(`${JSON.stringify(id)} is not a channel id`);
        const time = (v: string | undefined, name: string): Date | undefined => {
          if (v === undefined) return undefined;
          const d = new Date(v);
          if (Number.isNaN(d.getTime()))
            usage(`${name} must be an ISO 8601 time such as 2026-12-01T00:00:00Z`);
          return d;
        };
        const window = statsWindow(time(o.since, '--since'), time(o.until, '--until'));
        if ('error' in window) return usage(window.error);
        await withApiErrors('channels', async () => {
          let stats: StatsResponse;
          if (o.server) {
            const q = new URLSearchParams();
            if (o.since !== undefined) q.set('since', window.since.toISOString());
            if (o.until !== undefined) q.set('until', window.until.toISOString());
            const query = q.toString();
            stats = await callApi<StatsResponse>(
              'channels',
              o.server,
              'GET',
              `/api/v1/channels/${encodeURIComponent(id)}/stats${query ? `?${query}` : ''}`,
            );
          } else {
            const { store } = await openCliLedger('channels', o.data);
            try {
              stats = statsBody(id, await store.channelStats(id, window.since, window.until));
            } finally {
              await store.close();
            }
          }
          process.stdout.write(o.json ? `${JSON.stringify(stats)}\n` : statsText(stats));
        });
      },
    );
}

/** Statistics for a person: the window, totals, queue and latencies, then the hours with traffic. */
function statsText(s: StatsResponse): string {
  const p = (l: StatsResponse['ack_latency_ms']) =>
    l.count === 0 ? 'none measured' : `p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms (${l.count})`;
  const t = s.totals;
  const queued = Object.entries(s.queued.by_status)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const lines = [
    `${s.channel}: ${s.since} to ${s.until}`,
    `received ${t.received}, filtered ${t.filtered}, rejected ${t.rejected}, errored ${t.errored}, sent ${t.sent}, dead-lettered ${t.dead_lettered}`,
    `queued now ${s.queued.total}${queued ? ` (${queued})` : ''}`,
    `ACK latency: ${p(s.ack_latency_ms)}`,
    `end to end: ${p(s.end_to_end_latency_ms)}`,
  ];
  const busy = s.hours.filter((h) => h.received + h.sent + h.dead_lettered > 0);
  if (busy.length > 0) {
    lines.push('', ['HOUR', 'RECEIVED', 'FILTERED', 'REJECTED', 'ERRORED', 'SENT', 'DEAD'].join('\t'));
    for (const h of busy)
      lines.push([h.hour, h.received, h.filtered, h.rejected, h.errored, h.sent, h.dead_lettered].join('\t'));
  }
  return `${lines.join('\n')}\n`;
}
