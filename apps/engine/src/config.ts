import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ROLES, type Role } from '@sinew/engine';

/** One pipeline thread per CPU beyond the main thread's, at most 4; none on a single CPU. */
export function defaultPipelineThreads(cpus = availableParallelism()): number {
  return Math.max(0, Math.min(4, cpus - 1));
}

const port = z.coerce.number().int().min(0).max(65535);

/** Roles of a process: the engine's, and `api` (the admin API on the engine's HTTP port). */
export type AppRole = Role | 'api';
export const APP_ROLES: readonly AppRole[] = [...ROLES, 'api'];

/**
 * The engine's settings, from the environment (and `sinew start` flags, which set the same
 * names). Checked once at start-up: an invalid setting stops it with every problem listed.
 */
export const engineConfigSchema = z.object({
  SINEW_CHANNELS_DIR: z.string().min(1).default('channels').describe('folder of channel files'),
  SINEW_TRANSFORMERS_DIRS: z
    .string()
    .optional()
    .describe('extra transformer folders (comma-separated), loaded beside the built-in ones'),
  SINEW_DATA_DIR: z.string().min(1).default('data').describe('embedded ledger folder (SQLite file sinew.db)'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL (leave it unset for the embedded SQLite ledger)')
    .optional()
    .describe('PostgreSQL ledger instead of the embedded SQLite file'),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .optional()
    .describe('PostgreSQL schema (default public)'),
  SINEW_DB_POOL_SIZE: z.coerce
    .number()
    .int()
    .min(1)
    .max(500)
    .default(20)
    .describe('PostgreSQL connections per process'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL (leave it unset for the in-process queue)')
    .optional()
    .describe('BullMQ queue on Redis instead of the in-process queue'),
  SINEW_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('sinew')
    .describe('Redis key prefix'),
  SINEW_QUEUE_LOCK_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .default(10_000)
    .describe('BullMQ: a job of a process that died runs again after about 1.5× this'),
  SINEW_ROLES: z
    .string()
    .default(APP_ROLES.join(','))
    .transform((v, ctx) => {
      const roles = v
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      const bad = roles.filter((r) => !(APP_ROLES as readonly string[]).includes(r));
      if (bad.length || roles.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown role ${bad.join(', ') || '(none)'}; roles are ${APP_ROLES.join(', ')}`,
        });
        return z.NEVER;
      }
      return roles as AppRole[];
    })
    .describe('roles this process runs: sources, workers, scheduler, api'),
  SINEW_API_RATE_LIMIT: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(600)
    .describe('admin API: requests per minute per client and operation'),
  SINEW_APP_RATE_LIMIT: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(600)
    .describe('FHIR API: requests per minute per app without a limit of its own'),
  SINEW_ADMIN_ALERT_URL: z
    .string()
    .url()
    .optional()
    .describe('where a suspended app is announced: a signed JSON POST (Standard Webhooks)'),
  SINEW_ADMIN_ALERT_SECRET: z
    .string()
    .min(16)
    .optional()
    .describe('the key that signs admin alerts (whsec_<base64> or any text of 16 characters or more)'),
  SINEW_EVENTS_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(2_000)
    .describe('admin API: how often the live overview (GET /api/v1/events) is checked for changes'),
  SINEW_OAUTH_TOKEN_TTL_S: z.coerce
    .number()
    .int()
    .min(10)
    .max(86_400)
    .default(600)
    .describe('lifetime in seconds of the access tokens POST /oauth/token issues'),
  SINEW_OAUTH_ISSUER: z
    .string()
    .min(1)
    .optional()
    .describe(
      "the engine's public URL (https://sinew.example.org): access tokens' iss, and with /oauth/token the aud client assertions carry (default: the URL a request arrives at)",
    ),
  SINEW_OIDC_ISSUER: z
    .string()
    .url()
    .optional()
    .describe('OpenID Connect provider (its issuer URL): people sign in with it (single sign-on)'),
  SINEW_OIDC_CLIENT_ID: z
    .string()
    .min(1)
    .optional()
    .describe("the engine's client id at the OpenID provider"),
  SINEW_OIDC_CLIENT_SECRET: z
    .string()
    .min(1)
    .optional()
    .describe("the engine's client secret at the OpenID provider (leave out for a public client)"),
  SINEW_OIDC_REDIRECT_URL: z
    .string()
    .url()
    .optional()
    .describe('where the provider sends people back: https://<host>/api/v1/session/oidc/callback'),
  SINEW_OIDC_ROLE_CLAIM: z
    .string()
    .min(1)
    .default('groups')
    .describe('the ID token / userinfo claim that holds the groups or roles mapped by SINEW_OIDC_ROLES'),
  SINEW_OIDC_ROLES: z
    .string()
    .default('')
    .describe('group → role mapping, e.g. sinew-admins:admin,lab-ops:operator (no mapped group: refused)'),
  SINEW_OIDC_NAME: z
    .string()
    .min(1)
    .max(60)
    .default('single sign-on')
    .describe('what the sign-in page calls the provider'),
  SINEW_HTTP_HOST: z.string().min(1).default('127.0.0.1').describe('address of /health, /ready and /metrics'),
  SINEW_HTTP_PORT: port.default(8080).describe('port of /health, /ready and /metrics (0 picks one)'),
  SINEW_HTTP_TLS_CERT: z
    .string()
    .min(1)
    .optional()
    .describe('certificate (chain) PEM file: the HTTP port serves HTTPS; reloaded when the file changes'),
  SINEW_HTTP_TLS_KEY: z.string().min(1).optional().describe('private key PEM file of SINEW_HTTP_TLS_CERT'),
  SINEW_HTTP_TLS_CA: z
    .string()
    .min(1)
    .optional()
    .describe('CA PEM file of client certificates (mutual TLS, with SINEW_HTTP_TLS_CLIENT_CERT)'),
  SINEW_HTTP_TLS_CLIENT_CERT: z
    .enum(['none', 'request', 'require'])
    .default('none')
    .describe('mutual TLS on the HTTP port: require refuses clients without a certificate signed by the CA'),
  SINEW_RECONCILIATIONS_DIR: z
    .string()
    .min(1)
    .default('reconciliations')
    .describe('folder of reconciliation files (none there: no reconciliations)'),
  SINEW_RECONCILE_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(0)
    .default(90)
    .describe(
      'reconciliation runs older than this many days are deleted by the scheduler role (0: kept for ever)',
    ),
  SINEW_AUDIT_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('audit rows older than this many days are pruned by the scheduler role (0: kept for ever)'),
  SINEW_AUDIT_FILTER_VALUES: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1')
    .describe('record search filter values (an MRN searched for) in the audit log, not only their names'),
  SINEW_OPS_KEY_REQUIRED: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1')
    .describe('/ready and /metrics need an API key with metrics:read (/health stays open)'),
  SINEW_WEBHOOKS_ALLOW_HTTP: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1')
    .describe('accept http:// webhook receivers that are not on loopback (https is required otherwise)'),
  SINEW_WEBHOOKS_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(50)
    .default(8)
    .describe('attempts of a webhook delivery before it is dead-lettered'),
  SINEW_WEBHOOKS_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(10_000)
    .describe('time a webhook receiver has to answer'),
  SINEW_WEBHOOKS_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(0)
    .default(30)
    .describe(
      'finished webhook deliveries older than this many days are deleted by the scheduler role (0: kept for ever)',
    ),
  SINEW_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SINEW_SWEEP_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(5_000)
    .describe('recovery sweep interval'),
  SINEW_PIPELINE_THREADS: z.coerce
    .number()
    .int()
    .min(0)
    .max(64)
    .default(defaultPipelineThreads())
    .describe('worker threads that run pipelines (0: on the main thread)'),
  SINEW_WATCH: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1')
    .describe('redeploy the channels whenever a file in the channel folder changes'),
  SINEW_STOP_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000).describe('graceful stop deadline'),
  SINEW_SQLITE_SYNC: z
    .enum(['normal', 'full'])
    .default('normal')
    .describe('SQLite synchronous setting (full: durable on power loss too)'),
  SINEW_SQLITE_CACHE_MB: z.coerce
    .number()
    .int()
    .min(1)
    .max(65_536)
    .default(8)
    .describe('SQLite page cache in MiB'),
});

export type EngineConfig = z.output<typeof engineConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment; throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  const parsed = engineConfigSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const c = parsed.data;
  if ((c.SINEW_HTTP_TLS_CERT === undefined) !== (c.SINEW_HTTP_TLS_KEY === undefined))
    throw new ConfigError(['SINEW_HTTP_TLS_CERT and SINEW_HTTP_TLS_KEY go together']);
  if (c.SINEW_HTTP_TLS_CLIENT_CERT !== 'none' && (!c.SINEW_HTTP_TLS_CA || !c.SINEW_HTTP_TLS_CERT))
    throw new ConfigError([
      'SINEW_HTTP_TLS_CLIENT_CERT needs SINEW_HTTP_TLS_CA (the CA of client certificates) and the listener’s certificate',
    ]);
  return {
    ...c,
    SINEW_CHANNELS_DIR: resolve(c.SINEW_CHANNELS_DIR),
    SINEW_RECONCILIATIONS_DIR: resolve(c.SINEW_RECONCILIATIONS_DIR),
    SINEW_DATA_DIR: resolve(c.SINEW_DATA_DIR),
  };
}
