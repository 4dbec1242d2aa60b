import { Option, type Command } from 'commander';
import { APP_EVENTS, AppsService, AuditLog, type AppInfo } from '@sinew/auth';
import type { Store } from '@sinew/store';
import { readFileSync } from 'node:fs';
import { auditedChange, columns } from './audit.command';
import { openCliLedger, when } from './history.command';

const EXAMPLES = `
Examples:
  $ sinew apps create --name scribe --scopes 'system/Patient.rs system/Observation.rs' --approve
  $ sinew apps create --name receptionist --scopes 'system/Patient.rs system/Appointment.cruds' \\
      --events appointment.booked,appointment.cancelled --contact dev@example.com --jwks keys.json
  $ sinew apps list
  $ sinew apps show scribe
  $ sinew apps approve receptionist --scopes 'system/Appointment.rs' --reason 'books the diary'
  $ sinew apps writes receptionist off
  $ sinew apps promote receptionist

An app uses the clinic's data through the FHIR API at /fhir/R4 with an access token from
POST /oauth/token (client credentials, SMART Backend Services): by its client secret, or by
private_key_jwt with a key of its JWKS (--jwks). It asks for SMART system scopes; an admin
approves them (all with --approve, or some with approve --scopes) and tokens carry only
approved ones. create prints client_id=… and client_secret=… as its last two lines (the secret
is shown once; the ledger keeps its sha256; an app registered with --jwks has none, and its
last line is client_secret= with nothing after it). Apps start in the sandbox unless
--environment production; promote moves one to production with a new secret. pause, resume,
revoke, reinstate, scopes and writes take effect on the app's next request. Every change is
recorded in the audit log (actor cli).`;

const ledger = () =>
  new Option('--data <dir>', 'embedded ledger folder (SINEW_DATA_DIR); DATABASE_URL for PostgreSQL');

function appRow(a: AppInfo): string[] {
  return [
    a.id,
    a.name,
    a.environment,
    a.state,
    a.writesEnabled ? 'on' : 'off',
    a.touches.map((t) => `${t.resourceType}:${t.read ? 'r' : ''}${t.write ? 'w' : ''}`).join(',') || '-',
    a.lastCallAt ? when(a.lastCallAt) : 'never',
  ];
}

function describe(a: AppInfo): string {
  const lines = [
    `app ${a.name}`,
    `  id:           ${a.id}`,
    `  environment:  ${a.environment}`,
    `  state:        ${a.state}${a.stateReason ? ` (${a.stateReason})` : ''}`,
    `  requested:    ${a.requestedScopes.join(' ')}`,
    `  approved:     ${a.approvedScopes.join(' ') || '(none)'}`,
    `  granted for:  ${a.grantReason ?? '-'}`,
    `  writes:       ${a.writesEnabled ? 'on' : 'off'}`,
    `  endpoints:    ${a.endpoints ? a.endpoints.join(', ') : 'all its scopes allow'}`,
    `  rate limit:   ${a.rateLimit}/min${a.throttledUntil ? ` (throttled until ${when(a.throttledUntil)})` : ''}`,
    `  events:       ${a.events.join(', ') || '-'}`,
    `  auth:         ${a.auth.join(', ')}`,
    `  contact:      ${a.contact ?? '-'}`,
    `  created:      ${when(a.createdAt)}${a.createdBy ? ` by ${a.createdBy}` : ''}`,
    `  last call:    ${a.lastCallAt ? when(a.lastCallAt) : 'never'}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Runs `fn` on the registry of the ledger, resolving the app named by id or name. */
async function withApp(
  command: string,
  reference: string,
  data: string | undefined,
  fn: (apps: AppsService, id: string, store: Store) => Promise<void>,
): Promise<void> {
  const { store } = await openCliLedger(`apps ${command}`, data);
  try {
    const apps = new AppsService(store, new AuditLog(store));
    let id: string | undefined;
    try {
      id = await apps.findAppId(reference);
    } catch (error) {
      process.stderr.write(`sinew apps ${command}: ${(error as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    if (id === undefined || !(await apps.getApp(id))) {
      process.stderr.write(`sinew apps ${command}: no app ${reference}\n`);
      process.exitCode = 1;
      return;
    }
    await fn(apps, id, store);
  } finally {
    await store.close();
  }
}

function change(
  apps: Command,
  verb: string,
  description: string,
  act: (apps: AppsService, id: string) => Promise<AppInfo>,
  done: string,
): void {
  apps
    .command(verb)
    .description(description)
    .argument('<app>', 'the app id (sna_…) or its name')
    .addOption(ledger())
    .action(async (reference: string, options: { data?: string }) => {
      await withApp(verb, reference, options.data, async (service, id, store) => {
        const r = await auditedChange(`apps ${verb}`, store, [id], () => act(service, id));
        if (r) process.stdout.write(`${done} app ${r.value.name} (${id}): ${r.value.state}\n`);
      });
    });
}

export function registerApps(program: Command): void {
  const apps = program
    .command('apps')
    .description(
      'apps of the FHIR API: create, list, show, approve, pause, resume, revoke, reinstate, writes, scopes, promote',
    )
    .addHelpText('after', EXAMPLES);

  apps
    .command('create')
    .description('register an app; client_id=… and client_secret=… are its last two lines')
    .requiredOption('--name <name>', 'what the app is (shown in listings and the audit log)')
    .requiredOption(
      '--scopes <scopes>',
      "SMART system scopes, space-separated: 'system/Patient.rs system/Observation.rs'",
    )
    .option('--approve', 'approve every requested scope now (the app is active at once)')
    .addOption(
      new Option('--environment <env>', 'sandbox or production')
        .choices(['sandbox', 'production'])
        .default('sandbox'),
    )
    .option('--events <events>', `comma-separated: ${APP_EVENTS.join(', ')}`)
    .option('--contact <contact>', 'who runs the app (an email address)')
    .option('--reason <reason>', 'why it is granted')
    .option('--jwks <file>', 'a JWKS, JWK or PEM public key file: the app authenticates by private_key_jwt')
    .addOption(ledger())
    .action(
      async (options: {
        name: string;
        scopes: string;
        approve?: boolean;
        environment: 'sandbox' | 'production';
        events?: string;
        contact?: string;
        reason?: string;
        jwks?: string;
        data?: string;
      }) => {
        let jwks: string | undefined;
        try {
          if (options.jwks !== undefined) jwks = readFileSync(options.jwks, 'utf8');
        } catch (error) {
          process.stderr.write(`sinew apps create: ${(error as Error).message}\n`);
          process.exit(2);
        }
        const events = options.events
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const { store } = await openCliLedger('apps create', options.data, { create: true });
        try {
          const created = await auditedChange(
            'apps create',
            store,
            [],
            () =>
              new AppsService(store, new AuditLog(store)).createApp({
                name: options.name,
                scopes: options.scopes,
                environment: options.environment,
                ...(events ? { events } : {}),
                ...(options.contact !== undefined ? { contact: options.contact } : {}),
                ...(options.reason !== undefined ? { reason: options.reason } : {}),
                ...(jwks !== undefined ? { jwks } : {}),
                approve: options.approve === true,
                createdBy: 'cli',
              }),
            (c) => [c.clientId],
          );
          if (!created) return;
          const c = created.value;
          process.stdout.write(
            `${describe(c.app)}${c.clientSecret !== undefined ? 'The client secret is shown this once (the ledger keeps only its hash).\n' : ''}client_id=${c.clientId}\nclient_secret=${c.clientSecret ?? ''}\n`,
          );
        } finally {
          await store.close();
        }
      },
    );

  apps
    .command('list')
    .description('every app, newest first (never a secret)')
    .addOption(ledger())
    .action(async (options: { data?: string }) => {
      const { store } = await openCliLedger('apps list', options.data);
      try {
        const all = await new AppsService(store, new AuditLog(store)).listApps();
        process.stdout.write(
          columns(
            ['APP ID', 'NAME', 'ENVIRONMENT', 'STATE', 'WRITES', 'TOUCHES', 'LAST CALL'],
            all.map(appRow),
          ),
        );
      } finally {
        await store.close();
      }
    });

  apps
    .command('show')
    .description('one app: its scopes, why they were granted, its state, its switches and its last call')
    .argument('<app>', 'the app id (sna_…) or its name')
    .addOption(ledger())
    .action(async (reference: string, options: { data?: string }) => {
      await withApp('show', reference, options.data, async (service, id) => {
        const detail = await service.getApp(id);
        if (!detail) return;
        const calls = detail.callsPerDay.map((d) => `${d.day} ${d.calls}`).join(', ');
        const misuse = detail.misuse.map((m) => `${when(m.at)} ${m.kind}: ${m.detail}`);
        process.stdout.write(
          `${describe(detail)}  calls per day: ${calls || '-'}\n${misuse.length ? `  misuse:\n${misuse.map((m) => `    ${m}`).join('\n')}\n` : ''}`,
        );
      });
    });

  apps
    .command('approve')
    .description('approve scopes (all requested unless --scopes) with the reason they are granted')
    .argument('<app>', 'the app id (sna_…) or its name')
    .option('--scopes <scopes>', 'SMART scopes to approve, among the requested ones (default: all)')
    .requiredOption('--reason <reason>', 'why they are granted (shown in the console)')
    .addOption(ledger())
    .action(async (reference: string, options: { scopes?: string; reason: string; data?: string }) => {
      await withApp('approve', reference, options.data, async (service, id, store) => {
        const r = await auditedChange('apps approve', store, [id], () =>
          service.approve(id, {
            ...(options.scopes !== undefined ? { scopes: options.scopes } : {}),
            reason: options.reason,
            by: 'cli',
          }),
        );
        if (r)
          process.stdout.write(
            `approved ${r.value.approvedScopes.join(' ')} for app ${r.value.name} (${id})\n`,
          );
      });
    });

  apps
    .command('scopes')
    .description('change the requested and/or approved scopes (effective on the next request)')
    .argument('<app>', 'the app id (sna_…) or its name')
    .option('--requested <scopes>', 'what the app asks for')
    .option('--approved <scopes>', 'what it is granted, among the requested')
    .addOption(ledger())
    .action(async (reference: string, options: { requested?: string; approved?: string; data?: string }) => {
      if (options.requested === undefined && options.approved === undefined) {
        process.stderr.write('sinew apps scopes: give --requested and/or --approved\n');
        process.exit(2);
      }
      await withApp('scopes', reference, options.data, async (service, id, store) => {
        const r = await auditedChange('apps scopes', store, [id], () =>
          service.setScopes(id, {
            ...(options.requested !== undefined ? { requested: options.requested } : {}),
            ...(options.approved !== undefined ? { approved: options.approved } : {}),
          }),
        );
        if (r)
          process.stdout.write(
            `app ${r.value.name} (${id}): requested ${r.value.requestedScopes.join(' ')}; approved ${r.value.approvedScopes.join(' ') || '(none)'}\n`,
          );
      });
    });

  apps
    .command('writes')
    .description('turn every write of an app on or off')
    .argument('<app>', 'the app id (sna_…) or its name')
    .argument('<on|off>', 'on or off')
    .addOption(ledger())
    .action(async (reference: string, state: string, options: { data?: string }) => {
      if (state !== 'on' && state !== 'off') {
        process.stderr.write(`sinew apps writes: expected on or off, not ${state}\n`);
        process.exit(2);
      }
      await withApp('writes', reference, options.data, async (service, id, store) => {
        const r = await auditedChange('apps writes', store, [id], () =>
          service.setWrites(id, state === 'on'),
        );
        if (r) process.stdout.write(`writes ${state} for app ${r.value.name} (${id})\n`);
      });
    });

  apps
    .command('promote')
    .description('move a sandbox app to production; a secret app gets a new secret (the last line)')
    .argument('<app>', 'the app id (sna_…) or its name')
    .addOption(ledger())
    .action(async (reference: string, options: { data?: string }) => {
      await withApp('promote', reference, options.data, async (service, id, store) => {
        const r = await auditedChange('apps promote', store, [id], () => service.promote(id));
        if (!r) return;
        process.stdout.write(
          `promoted app ${r.value.app.name} (${id}) to production\nclient_id=${id}\nclient_secret=${r.value.clientSecret ?? ''}\n`,
        );
      });
    });

  change(apps, 'pause', 'stop an app and its tokens until it is resumed', (s, id) => s.pause(id), 'paused');
  change(apps, 'resume', 'let a paused app work again', (s, id) => s.resume(id), 'resumed');
  change(
    apps,
    'revoke',
    'revoke an app for good (its tokens stop working)',
    (s, id) => s.revoke(id),
    'revoked',
  );
  change(
    apps,
    'reinstate',
    'let an app suspended for misuse work again',
    (s, id) => s.reinstate(id),
    'reinstated',
  );
}
