import { Option, type Command } from 'commander';
import { AccessService, parseScopes, SCOPES, type ClientInfo, type Scope } from '@sinew/auth';
import { readFileSync } from 'node:fs';
import { auditedChange, columns } from './audit.command';
import { openCliLedger, when } from './history.command';

const EXAMPLES = `
Examples:
  $ sinew clients create --name reconciler --scopes messages:read --channels lab-results
  $ sinew clients create --name etl --scopes messages:read --public-key etl-public.jwk
  $ sinew clients list
  $ sinew clients pause snc_0123456789abcdef0123
  $ sinew clients revoke snc_0123456789abcdef0123

An OAuth2 client gets short-lived access tokens from POST /oauth/token (grant_type=client_credentials)
and sends them as Authorization: Bearer <token>. create prints the client id and, for a client
that authenticates by secret, the secret alone on the last line (tail -n 1): it is shown once,
and the ledger keeps only its sha256. With --public-key (a JWK or PEM public key file) the
client authenticates by private_key_jwt (a JWT signed by its private key) and has no secret.
pause, resume and revoke take effect on the client's next request, tokens already issued
included. Every change is recorded in the audit log (actor cli).`;

const ledger = () =>
  new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL');

function clientRow(c: ClientInfo): string[] {
  return [
    c.id,
    c.name,
    c.state,
    c.auth,
    c.scopes.join(','),
    c.channels ? c.channels.join(',') : 'all',
    when(c.createdAt),
    c.lastUsedAt ? `${when(c.lastUsedAt)}${c.lastUsedFrom ? ` from ${c.lastUsedFrom}` : ''}` : 'never',
  ];
}

function changeState(clients: Command, verb: 'revoke' | 'pause' | 'resume', description: string): void {
  clients
    .command(verb)
    .description(description)
    .argument('<client-id>', 'the client id (snc_…)')
    .addOption(ledger())
    .action(async (id: string, options: { data?: string }) => {
      const { store } = await openCliLedger(`clients ${verb}`, options.data);
      try {
        const access = new AccessService(store);
        if (!(await access.getClient(id))) {
          process.stderr.write(`sinew clients ${verb}: no client ${id}\n`);
          process.exitCode = 1;
          return;
        }
        const change =
          verb === 'revoke'
            ? () => access.revokeClient(id)
            : verb === 'pause'
              ? () => access.pauseClient(id)
              : () => access.resumeClient(id);
        if (await auditedChange(`clients ${verb}`, store, [id], change)) {
          const past = { revoke: 'revoked', pause: 'paused', resume: 'resumed' }[verb];
          process.stdout.write(`${past} client ${id}\n`);
        }
      } finally {
        await store.close();
      }
    });
}

export function registerClients(program: Command): void {
  const clients = program
    .command('clients')
    .description('OAuth2 clients (client credentials): create, list, pause, resume, revoke')
    .addHelpText('after', EXAMPLES);

  clients
    .command('create')
    .description('register a client; its id, then (secret clients) the secret alone on the last line')
    .requiredOption('--name <name>', 'what the client is (shown in listings and the audit log)')
    .requiredOption('--scopes <scopes>', `comma-separated: ${SCOPES.join(', ')}`)
    .addOption(new Option('--channels <ids>', 'restrict the client to these channels (comma-separated)'))
    .addOption(
      new Option(
        '--public-key <file>',
        'a JWK or PEM public key: the client authenticates by private_key_jwt',
      ),
    )
    .addOption(ledger())
    .action(
      async (options: {
        name: string;
        scopes: string;
        channels?: string;
        publicKey?: string;
        data?: string;
      }) => {
        let scopes: Scope[];
        let publicKey: string | undefined;
        try {
          scopes = parseScopes(options.scopes);
          if (options.publicKey !== undefined) publicKey = readFileSync(options.publicKey, 'utf8');
        } catch (error) {
          process.stderr.write(`sinew clients create: ${(error as Error).message}\n`);
          process.exit(2);
        }
        const channels = options.channels
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const { store } = await openCliLedger('clients create', options.data, { create: true });
        try {
          const created = await auditedChange(
            'clients create',
            store,
            [],
            () =>
              new AccessService(store).createClient({
                name: options.name,
                scopes,
                ...(channels ? { channels } : {}),
                ...(publicKey !== undefined ? { publicKey } : {}),
                createdBy: 'cli',
              }),
            (c) => [c.id],
          );
          if (!created) return;
          const c = created.value;
          const lines = [
            `created client ${options.name}`,
            `  client_id: ${c.id}`,
            `  auth:      ${c.secret === undefined ? 'private_key_jwt' : 'client_secret_basic or client_secret_post'}`,
            `  scopes:    ${scopes.join(', ')}`,
            `  channels:  ${channels ? channels.join(', ') : 'all'}`,
          ];
          if (c.secret !== undefined) {
            lines.push(
              'The client secret follows, shown this once (the ledger keeps only its hash):',
              c.secret,
            );
          } else {
            lines.push(`The client signs its assertions with the private key of ${options.publicKey}.`);
          }
          process.stdout.write(`${lines.join('\n')}\n`);
        } finally {
          await store.close();
        }
      },
    );

  clients
    .command('list')
    .description('every client, newest first (never a secret)')
    .addOption(ledger())
    .action(async (options: { data?: string }) => {
      const { store } = await openCliLedger('clients list', options.data);
      try {
        const all = await new AccessService(store).listClients();
        process.stdout.write(
          columns(
            ['CLIENT ID', 'NAME', 'STATE', 'AUTH', 'SCOPES', 'CHANNELS', 'CREATED', 'LAST USED'],
            all.map(clientRow),
          ),
        );
      } finally {
        await store.close();
      }
    });

  changeState(clients, 'revoke', 'revoke a client for good (its tokens stop working)');
  changeState(clients, 'pause', 'stop a client and its tokens until it is resumed');
  changeState(clients, 'resume', 'let a paused client work again');
}
