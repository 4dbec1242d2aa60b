import { Option, type Command } from 'commander';
import type { MessageRecord, MessageSearch, MessageStatus } from '@sinew/store';
import {
  DEFAULT_EXPORT_LIMIT,
  MAX_EXPORT_LIMIT,
  messageExportChunks,
} from '@sinew/engine-app/api/export-format';
import { callApi, streamApi, withApiErrors, writeAll } from './api-client';
import { openCliLedger } from './history.command';

const EXAMPLES = `
Examples:
  $ sinew messages search --channel lab-results --key mrn:12345       # a patient's messages
  $ sinew messages search --control-id LAB000123                      # the lab's message
  $ sinew messages search --query 12345                               # an MRN, a control id or an id
  $ sinew messages search --status failed --since 2026-12-01T00:00:00Z --json
  $ sinew messages show 0192f0c1-…                                    # every stage of one
  $ SINEW_TOKEN=snw_… sinew messages search --server http://sinew:8080 --key mrn:12345

With --server the admin API answers (the key in SINEW_TOKEN needs messages:read; business keys
and content need phi:read as well, and the call is in the audit log); without it, the local
ledger (--data DIR, or DATABASE_URL). Newest first; --cursor continues a --server search.
Exit status: 0 when found, 1 when nothing matched or the server refused, 2 for a usage error.`;

const STATUSES = ['received', 'filtered', 'rejected', 'errored', 'processed', 'delivered', 'failed'];

interface SearchOptions {
  channel?: string;
  status?: string;
  since?: string;
  until?: string;
  type?: string;
  controlId?: string;
  sender?: string;
  key?: string;
  query?: string;
  limit: string;
  cursor?: string;
  data?: string;
  server?: string;
  json?: boolean;
}

interface Summary {
  id: string;
  channel: string;
  received_at: string;
  type?: string;
  control_id?: string;
  sender: string;
  status: string;
  ack_code?: string;
  keys?: Record<string, string>;
}

function summary(m: MessageRecord): Summary {
  return {
    id: m.id,
    channel: m.channelId,
    received_at: m.receivedAt.toISOString(),
    ...(m.messageType !== undefined ? { type: m.messageType } : {}),
    ...(m.controlId !== undefined ? { control_id: m.controlId } : {}),
    sender: m.sender,
    status: m.status,
    ...(m.ackCode !== undefined ? { ack_code: m.ackCode } : {}),
    keys: m.keys,
  };
}

function line(s: Summary): string {
  return [s.received_at, s.id, s.channel, s.type ?? '', s.control_id ?? '', s.status, s.ack_code ?? ''].join(
    '\t',
  );
}

function usage(message: string): never {
  process.stderr.write(`sinew messages: ${message}\n`);
  process.exit(2);
}

function date(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) usage(`${name} must be an ISO 8601 time such as 2026-12-01T00:00:00Z`);
  return d;
}

/** The filters `search` and `export` share: checked once (a usage error exits 2). */
type Filters = Pick<
  SearchOptions,
  'channel' | 'status' | 'since' | 'until' | 'type' | 'controlId' | 'sender' | 'key' | 'query'
>;

function checkFilters(o: Filters): void {
  if (o.status !== undefined && !STATUSES.includes(o.status) && o.status !== 'dead_lettered')
    usage(`--status is one of ${STATUSES.join(', ')}`);
  if (o.key !== undefined && !/^[A-Za-z][A-Za-z0-9_]*:.+$/.test(o.key))
    usage('--key is name:value, e.g. mrn:12345');
  if (o.query !== undefined && (o.query.trim() === '' || o.query.length > 400))
    usage('--query is a message id, a control id or a business key value (1 to 400 characters)');
}

/** The filters as the admin API's query parameters. */
function filterQuery(o: Filters): URLSearchParams {
  const q = new URLSearchParams();
  const put = (k: string, v: string | undefined) => v !== undefined && q.set(k, v);
  put('channel', o.channel);
  put('status', o.status);
  put('since', o.since);
  put('until', o.until);
  put('type', o.type);
  put('control_id', o.controlId);
  put('sender', o.sender);
  put('key', o.key);
  put('q', o.query?.trim());
  return q;
}

/** The filters as a search of the local ledger. */
function ledgerSearch(o: Filters): MessageSearch {
  const search: MessageSearch = {};
  if (o.channel) search.channelId = o.channel;
  if (o.status) search.status = (o.status === 'dead_lettered' ? 'failed' : o.status) as MessageStatus;
  const since = date(o.since, '--since');
  const until = date(o.until, '--until');
  if (since) search.since = since;
  if (until) search.until = until;
  if (o.type) search.messageType = o.type;
  if (o.controlId) search.controlId = o.controlId;
  if (o.sender) search.sender = o.sender;
  if (o.key) {
    const at = o.key.indexOf(':');
    search.key = { name: o.key.slice(0, at), value: o.key.slice(at + 1) };
  }
  if (o.query !== undefined) search.text = o.query.trim();
  return search;
}

export function registerMessages(program: Command): void {
  const messages = program.command('messages').description('search messages and show one with every stage');
  messages
    .command('search')
    .description('messages by channel, status, time, type, control id, sender, business key or one free text')
    .addOption(new Option('--channel <id>', 'channel id'))
    .addOption(new Option('--status <status>', `one of ${STATUSES.join(', ')}`))
    .addOption(new Option('--since <time>', 'received at or after (ISO 8601)'))
    .addOption(new Option('--until <time>', 'received before (ISO 8601)'))
    .addOption(new Option('--type <type>', 'message type and trigger (ORU^R01)'))
    .addOption(new Option('--control-id <id>', 'MSH-10'))
    .addOption(new Option('--sender <sender>', 'MSH-3|MSH-4'))
    .addOption(new Option('--key <name:value>', 'a business key the channel declares (mrn:12345)'))
    .addOption(
      new Option('--q, --query <text>', 'a message id, a control id, or any business key value (exact)'),
    )
    .addOption(new Option('--limit <n>', 'at most this many').default('50'))
    .addOption(new Option('--cursor <cursor>', 'the next page of a --server search'))
    .addOption(new Option('--server <url>', 'ask a running engine\u2019s admin API (SINEW_TOKEN)'))
    .addOption(
      new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
    )
    .addOption(new Option('--json', 'one JSON object per line'))
    .addHelpText('after', EXAMPLES)
    .action(async (o: SearchOptions) => {
      checkFilters(o);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500)
        usage('--limit is a whole number from 1 to 500');
      await withApiErrors('messages', async () => {
        let items: Summary[];
        let next: string | null = null;
        if (o.server) {
          const q = filterQuery(o);
          if (o.cursor !== undefined) q.set('cursor', o.cursor);
          q.set('limit', String(limit));
          const page = await callApi<{ items: Summary[]; next_cursor: string | null }>(
            'messages',
            o.server,
            'GET',
            `/api/v1/messages?${q.toString()}`,
          );
          items = page.items;
          next = page.next_cursor;
        } else {
          if (o.cursor) usage('--cursor goes with --server');
          const search: MessageSearch = { ...ledgerSearch(o), limit };
          const { store } = await openCliLedger('messages', o.data);
          try {
            items = (await store.searchMessages(search)).map(summary);
          } finally {
            await store.close();
          }
        }
        for (const s of items) process.stdout.write(`${o.json ? JSON.stringify(s) : line(s)}\n`);
        if (next) process.stderr.write(`more: --cursor ${next}\n`);
        process.exitCode = items.length === 0 ? 1 : 0;
      });
    });

  messages
    .command('show <id>')
    .description('one message: metadata, issues, deliveries and attempts (content with phi:read)')
    .addOption(new Option('--server <url>', 'ask a running engine\u2019s admin API (SINEW_TOKEN)'))
    .addOption(
      new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
    )
    .action(async (id: string, o: { server?: string; data?: string }) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/.test(id)) usage('not a message id');
      await withApiErrors('messages', async () => {
        if (o.server) {
          const m = await callApi<unknown>(
            'messages',
            o.server,
            'GET',
            `/api/v1/messages/${encodeURIComponent(id)}`,
          );
          process.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
          return;
        }
        const { store } = await openCliLedger('messages', o.data);
        try {
          const m = await store.getMessage(id);
          if (!m) {
            process.stderr.write(`sinew messages: no message ${id}\n`);
            process.exitCode = 1;
            return;
          }
          const deliveries = await Promise.all(
            (await store.getDeliveries(id)).map(async (d) => ({
              id: d.id,
              destination: d.destination,
              status: d.status,
              attempts: await store.getAttempts(d.id).then((as) =>
                as.map((a) => ({
                  number: a.number,
                  finished_at: a.finishedAt.toISOString(),
                  outcome: a.outcome,
                  ...(a.code ? { code: a.code } : {}),
                  ...(a.error ? { error: a.error } : {}),
                })),
              ),
              ...(d.parkedReason ? { waiting: d.parkedReason } : {}),
              ...(d.nextAttemptAt ? { next_attempt_at: d.nextAttemptAt.toISOString() } : {}),
            })),
          );
          const { parent, children } = await store.links.linksOf(id);
          const link = (l: { messageId: string; channelId: string; destination: string }) => ({
            id: l.messageId,
            channel_id: l.channelId,
            destination: l.destination,
          });
          process.stdout.write(
            `${JSON.stringify(
              {
                ...summary(m),
                issues: m.issues,
                deliveries,
                ...(parent ? { parent: link(parent) } : {}),
                children: children.map(link),
              },
              null,
              2,
            )}\n`,
          );
        } finally {
          await store.close();
        }
      });
    });

  messages
    .command('export')
    .description('messages by filter as NDJSON on stdout, one per line, newest first (streamed)')
    .addOption(new Option('--channel <id>', 'channel id'))
    .addOption(new Option('--status <status>', `one of ${STATUSES.join(', ')}`))
    .addOption(new Option('--since <time>', 'received at or after (ISO 8601)'))
    .addOption(new Option('--until <time>', 'received before (ISO 8601)'))
    .addOption(new Option('--type <type>', 'message type and trigger (ORU^R01)'))
    .addOption(new Option('--control-id <id>', 'MSH-10'))
    .addOption(new Option('--sender <sender>', 'MSH-3|MSH-4'))
    .addOption(new Option('--key <name:value>', 'a business key the channel declares (mrn:12345)'))
    .addOption(
      new Option('--q, --query <text>', 'a message id, a control id, or any business key value (exact)'),
    )
    .addOption(new Option('--content', 'with each message\u2019s raw, transformed and ACK bytes (PHI)'))
    .addOption(
      new Option('--limit <n>', `at most this many (at most ${MAX_EXPORT_LIMIT})`).default(
        String(DEFAULT_EXPORT_LIMIT),
      ),
    )
    .addOption(new Option('--server <url>', 'through a running engine\u2019s admin API (SINEW_TOKEN)'))
    .addOption(
      new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL'),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ sinew messages export --channel lab-results --since 2026-12-01T00:00:00Z > lab.ndjson
  $ sinew messages export --key mrn:12345 --content > patient.ndjson
  $ SINEW_TOKEN=snw_… sinew messages export --server http://sinew:8080 --status failed > failed.ndjson

Each line is one message: metadata, business keys and issues; with --content also its raw,
transformed and ACK bytes (text when UTF-8, else base64). Read a page at a time, so memory stays
flat however many. With --server the key needs messages:read (keys need phi:read; --content
needs phi:read), and the export is in the audit log. Without it, the local ledger.
Exit status: 0, 1 when the server refused, 2 for a usage error.`,
    )
    .action(async (o: Omit<SearchOptions, 'cursor' | 'json'> & { content?: boolean }) => {
      checkFilters(o);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EXPORT_LIMIT)
        usage(`--limit is a whole number from 1 to ${MAX_EXPORT_LIMIT}`);
      await withApiErrors('messages', async () => {
        if (o.server) {
          const q = filterQuery(o);
          if (o.content) q.set('content', 'true');
          q.set('limit', String(limit));
          await streamApi('messages', o.server, `/api/v1/messages/export?${q.toString()}`, process.stdout);
          return;
        }
        const search = ledgerSearch(o);
        const { store } = await openCliLedger('messages', o.data);
        try {
          await writeAll(
            messageExportChunks(store, search, limit, { keys: true, content: o.content === true }),
            process.stdout,
          );
        } finally {
          await store.close();
        }
      });
    });
}
