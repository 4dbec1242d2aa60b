import { Option, type Command } from 'commander';
import {
  AccessService,
  KEY_MARK,
  parseScopes,
  SCOPE_DESCRIPTIONS,
  SCOPES,
  type KeyInfo,
  type Scope,
} from '@sinew/auth';
import { parseDuration } from '@sinew/channels';
import { auditedChange, columns } from './audit.command';
import { openCliLedger, when } from './history.command';

const EXAMPLES = `
Examples:
  $ sinew keys create --name lab-ci --scopes channels:read,messages:read --expires 90d
  $ sinew keys create --name reconciler --scopes messages:read --channels lab-results > key.txt
  $ sinew keys list
  $ sinew keys pause snw_ab12cd34       # by prefix, snw_<prefix> or id
  $ sinew keys revoke snw_ab12cd34

create prints the key's details, then the key alone on the last line (tail -n 1): it is shown
once, and the ledger keeps only its sha256. Callers send it as Authorization: Bearer <key>.
pause, resume and revoke take effect on the key's next request. Every change is recorded in
the audit log (actor cli).

Scopes:
${SCOPES.map((s) => `  ${s.padEnd(17)} ${SCOPE_DESCRIPTIONS[s]}`).join('\n')}`;

const ledger = () =>
  new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL');

/** `90d`, `12h` … from now, or an ISO 8601 date; undefined when neither. */
function expiry(text: string, now: Date): Date | undefined {
  const ms = parseDuration(text);
  if (ms !== undefined) return ms > 0 ? new Date(now.getTime() + ms) : undefined;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function keyRow(k: KeyInfo): string[] {
  return [
    `${KEY_MARK}${k.prefix}`,
    k.name,
    k.state,
    k.scopes.join(','),
    k.channels ? k.channels.join(',') : 'all',
    when(k.createdAt),
    k.expiresAt ? when(k.expiresAt) : 'never',
    k.lastUsedAt ? `${when(k.lastUsedAt)}${k.lastUsedFrom ? ` from ${k.lastUsedFrom}` : ''}` : 'never',
    k.id,
  ];
}

function changeState(keys: Command, verb: 'revoke' | 'pause' | 'resume', description: string): void {
  keys
    .command(verb)
    .description(description)
    .argument('<key>', 'the key’s prefix, snw_<prefix>, or id')
    .addOption(ledger())
    .action(async (reference: string, options: { data?: string }) => {
      const { store } = await openCliLedger(`keys ${verb}`, options.data);
      try {
        const access = new AccessService(store);
        const id = await access.findKeyId(reference);
        if (!id) {
          process.stderr.write(`sinew keys ${verb}: no key ${reference}\n`);
          process.exitCode = 1;
          return;
        }
        const change =
          verb === 'revoke'
            ? () => access.revokeKey(id)
            : verb === 'pause'
              ? () => access.pauseKey(id)
              : () => access.resumeKey(id);
        if (await auditedChange(`keys ${verb}`, store, [id], change)) {
          const past = { revoke: 'revoked', pause: 'paused', resume: 'resumed' }[verb];
          process.stdout.write(`${past} key ${reference}\n`);
        }
      } finally {
        await store.close();
      }
    });
}

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('API keys for machines: create (shown once), list, pause, resume, revoke')
    .addHelpText('after', EXAMPLES);

  keys
    .command('create')
    .description('create a key; its details, then the key alone on the last line')
    .requiredOption('--name <name>', 'what the key is for (shown in listings and the audit log)')
    .requiredOption('--scopes <scopes>', `comma-separated: ${SCOPES.join(', ')}`)
    .addOption(new Option('--channels <ids>', 'restrict the key to these channels (comma-separated)'))
    .addOption(new Option('--expires <when>', 'a duration from now (90d, 12h) or a date (2027-01-31)'))
    .addOption(ledger())
    .action(
      async (options: {
        name: string;
        scopes: string;
        channels?: string;
        expires?: string;
        data?: string;
      }) => {
        let scopes: Scope[];
        try {
          scopes = parseScopes(options.scopes);
        } catch (error) {
          process.stderr.write(`sinew keys create: ${(error as Error).message}\n`);
          process.exit(2);
        }
        const now = new Date();
        const expiresAt = options.expires === undefined ? undefined : expiry(options.expires, now);
        if (options.expires !== undefined && expiresAt === undefined) {
          process.stderr.write(
            `sinew keys create: --expires takes a duration (90d, 12h) or a date, not ${options.expires}\n`,
          );
          process.exit(2);
        }
        const channels = options.channels
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const { store } = await openCliLedger('keys create', options.data, { create: true });
        try {
          const created = await auditedChange(
            'keys create',
            store,
            [],
            () =>
              new AccessService(store).createKey({
                name: options.name,
                scopes,
                ...(channels ? { channels } : {}),
                ...(expiresAt ? { expiresAt } : {}),
                createdBy: 'cli',
              }),
            (k) => [k.id],
          );
          if (!created) return;
          const k = created.value;
          process.stdout.write(
            [
              `created key ${options.name}`,
              `  id:       ${k.id}`,
              `  prefix:   ${KEY_MARK}${k.prefix}`,
              `  scopes:   ${scopes.join(', ')}`,
              `  channels: ${channels ? channels.join(', ') : 'all'}`,
              `  expires:  ${expiresAt ? when(expiresAt) : 'never'}`,
              'The key follows, shown this once (the ledger keeps only its hash):',
              k.secret,
              '',
            ].join('\n'),
          );
        } finally {
          await store.close();
        }
      },
    );

  keys
    .command('list')
    .description('every key, newest first (never a secret)')
    .addOption(ledger())
    .action(async (options: { data?: string }) => {
      const { store } = await openCliLedger('keys list', options.data);
      try {
        const all = await new AccessService(store).listKeys();
        process.stdout.write(
          columns(
            ['PREFIX', 'NAME', 'STATE', 'SCOPES', 'CHANNELS', 'CREATED', 'EXPIRES', 'LAST USED', 'ID'],
            all.map(keyRow),
          ),
        );
      } finally {
        await store.close();
      }
    });

  changeState(keys, 'revoke', 'revoke a key for good');
  changeState(keys, 'pause', 'stop a key until it is resumed');
  changeState(keys, 'resume', 'let a paused key work again');
}
