import { Option, type Command } from 'commander';
import { AccessService, isRole, parseScopes, passwordProblem, ROLES, type UserInfo } from '@sinew/auth';
import type { Store } from '@sinew/store';
import { auditedChange, columns } from './audit.command';
import { openCliLedger, when } from './history.command';

const EXAMPLES = `
Examples:
  $ printf '%s' "$ADMIN_PASSWORD" | sinew users create --username alice --role admin --password-stdin
  $ sinew users create --username olivia --role operator --channels lab-results,adt --password-stdin < pw.txt
  $ sinew users list
  $ sinew users disable olivia
  $ sinew users set-role olivia --role viewer

Roles: admin (everything), engineer (channels, deploy, replay, message content), operator
(pause/resume, replay, dead letters), viewer (metadata and statistics). There is no default
user and no default password: create the first administrator with users create --role admin.
Passwords have at least 12 characters and are read from standard input only (never an
argument, which other users of the machine could see). Every change is recorded in the
audit log (actor cli).`;

/** The password on standard input, without the one line ending a shell or a file adds. */
async function readPassword(command: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password (then Enter and Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (text === '') {
    process.stderr.write(`sinew ${command}: no password on standard input\n`);
    process.exit(2);
  }
  const problem = passwordProblem(text);
  if (problem) {
    process.stderr.write(`sinew ${command}: ${problem}\n`);
    process.exit(2);
  }
  return text;
}

function list(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

async function userId(access: AccessService, nameOrId: string): Promise<string | undefined> {
  const users = await access.listUsers();
  return users.find((u) => u.username === nameOrId || u.id === nameOrId)?.id;
}

function userRow(u: UserInfo): string[] {
  return [
    u.username,
    u.sso ? `${u.role} (sso)` : u.role,
    u.lockedUntil ? `locked until ${when(u.lockedUntil)}` : u.state,
    u.channels ? u.channels.join(',') : 'all',
    u.extraScopes.length ? u.extraScopes.join(',') : '-',
    u.lastLoginAt ? `${when(u.lastLoginAt)}${u.lastLoginFrom ? ` from ${u.lastLoginFrom}` : ''}` : 'never',
    u.id,
  ];
}

async function withUser(
  command: string,
  data: string | undefined,
  nameOrId: string,
  fn: (access: AccessService, store: Store, id: string) => Promise<void>,
): Promise<void> {
  const { store } = await openCliLedger(command, data);
  try {
    const access = new AccessService(store);
    const id = await userId(access, nameOrId);
    if (!id) {
      process.stderr.write(`sinew ${command}: no user ${nameOrId}\n`);
      process.exitCode = 1;
      return;
    }
    await fn(access, store, id);
  } finally {
    await store.close();
  }
}

export function registerUsers(program: Command): void {
  const users = program
    .command('users')
    .description('people who use the API and the console: create, list, disable, set a password or a role')
    .addHelpText('after', EXAMPLES);
  const ledger = () =>
    new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL');

  users
    .command('create')
    .description('create a user (the ledger is created if it does not exist yet)')
    .requiredOption('--username <name>', 'letters, digits, . _ @ -')
    .addOption(new Option('--role <role>', 'the role').choices([...ROLES]).makeOptionMandatory())
    .addOption(new Option('--password-stdin', 'read the password from standard input (required)'))
    .addOption(new Option('--channels <ids>', 'restrict the user to these channels (comma-separated)'))
    .addOption(new Option('--scopes <scopes>', "scopes beyond the role's (comma-separated, e.g. audit:read)"))
    .addOption(ledger())
    .action(
      async (options: {
        username: string;
        role: string;
        passwordStdin?: boolean;
        channels?: string;
        scopes?: string;
        data?: string;
      }) => {
        if (!options.passwordStdin) {
          process.stderr.write(
            'sinew users create: give the password on standard input with --password-stdin (there is no default password)\n',
          );
          process.exit(2);
        }
        if (!isRole(options.role)) process.exit(2);
        let extraScopes;
        try {
          extraScopes = options.scopes === undefined ? undefined : parseScopes(options.scopes);
        } catch (error) {
          process.stderr.write(`sinew users create: ${(error as Error).message}\n`);
          process.exit(2);
        }
        const password = await readPassword('users create');
        const channels = list(options.channels);
        const { store } = await openCliLedger('users create', options.data, { create: true });
        try {
          const created = await auditedChange(
            'users create',
            store,
            [],
            () =>
              new AccessService(store).createUser({
                username: options.username,
                role: options.role as (typeof ROLES)[number],
                password,
                ...(channels ? { channels } : {}),
                ...(extraScopes ? { extraScopes } : {}),
              }),
            (r) => [r.id],
          );
          if (created) {
            process.stdout.write(
              `created user ${options.username} (role ${options.role}), id ${created.value.id}\n`,
            );
          }
        } finally {
          await store.close();
        }
      },
    );

  users
    .command('list')
    .description('every user, by username (never a password hash)')
    .addOption(ledger())
    .action(async (options: { data?: string }) => {
      const { store } = await openCliLedger('users list', options.data);
      try {
        const all = await new AccessService(store).listUsers();
        process.stdout.write(
          columns(
            ['USERNAME', 'ROLE', 'STATE', 'CHANNELS', 'EXTRA SCOPES', 'LAST LOGIN', 'ID'],
            all.map(userRow),
          ),
        );
      } finally {
        await store.close();
      }
    });

  users
    .command('disable')
    .description('stop a user from logging in')
    .argument('<user>', 'username or id')
    .addOption(ledger())
    .action(async (user: string, options: { data?: string }) => {
      await withUser('users disable', options.data, user, async (access, store, id) => {
        if (await auditedChange('users disable', store, [id], () => access.disableUser(id))) {
          process.stdout.write(`disabled user ${user}\n`);
        }
      });
    });

  users
    .command('enable')
    .description('let a disabled user log in again')
    .argument('<user>', 'username or id')
    .addOption(ledger())
    .action(async (user: string, options: { data?: string }) => {
      await withUser('users enable', options.data, user, async (access, store, id) => {
        if (await auditedChange('users enable', store, [id], () => access.enableUser(id))) {
          process.stdout.write(`enabled user ${user}\n`);
        }
      });
    });

  users
    .command('set-role')
    .description('give a user another role (their sessions hold it from their next request)')
    .argument('<user>', 'username or id')
    .addOption(new Option('--role <role>', 'the new role').choices([...ROLES]).makeOptionMandatory())
    .addOption(ledger())
    .action(async (user: string, options: { role: string; data?: string }) => {
      if (!isRole(options.role)) process.exit(2);
      const role = options.role;
      await withUser('users set-role', options.data, user, async (access, store, id) => {
        if (await auditedChange('users set-role', store, [id], () => access.setRole(id, role))) {
          process.stdout.write(`${user} has the role ${role}\n`);
        }
      });
    });

  users
    .command('set-password')
    .description('set a new password (and lift a lockout)')
    .argument('<user>', 'username or id')
    .addOption(new Option('--password-stdin', 'read the password from standard input (required)'))
    .addOption(ledger())
    .action(async (user: string, options: { passwordStdin?: boolean; data?: string }) => {
      if (!options.passwordStdin) {
        process.stderr.write(
          'sinew users set-password: give the password on standard input with --password-stdin\n',
        );
        process.exit(2);
      }
      const password = await readPassword('users set-password');
      await withUser('users set-password', options.data, user, async (access, store, id) => {
        if (await auditedChange('users set-password', store, [id], () => access.setPassword(id, password))) {
          process.stdout.write(`set the password of ${user}\n`);
        }
      });
    });
}
