import { z } from 'zod';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
} from './connector';
import {
  classifyDatabaseError,
  compileNamed,
  databaseConnectionFields,
  openDatabase,
  redactUrl,
  type BindValue,
  type DatabaseClient,
} from './database.client';
import { JSON_PATH, readJsonPath } from './json-path';

const statementSchema = z
  .strictObject({
    sql: z
      .string()
      .min(1)
      .describe(
        'One statement (INSERT, INSERT … ON CONFLICT/ON DUPLICATE KEY UPDATE, UPDATE, CALL …) with `:name` ' +
          'parameters. Values are always bound by the driver, never written into the text.',
      ),
    params: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
        z.string().regex(JSON_PATH, { message: 'expected a path like patient.mrn or items[0].code' }),
      )
      .default({})
      .describe(
        'Each `:name` of `sql` → a path into the JSON payload (`patient.mrn`, `orders[0].id`, `$` for the whole ' +
          'payload). A missing value binds NULL; an object or array binds its JSON text.',
      ),
    for_each: z
      .string()
      .regex(JSON_PATH)
      .optional()
      .describe(
        'A path to an array of the payload: the statement runs once per item, with `params` paths read from ' +
          "the item (`$` is the item); all in the message's one transaction.",
      ),
  })
  .superRefine((s, ctx) => {
    for (const name of compileNamed(s.sql).names) {
      if (!(name in s.params))
        ctx.addIssue({ code: 'custom', message: `:${name} has no entry in params`, path: ['params'] });
    }
  });

export const databaseDestinationConfig = z.strictObject({
  ...databaseConnectionFields,
  statements: z
    .array(statementSchema)
    .min(1)
    .describe('What to run for each message, in order, in ONE transaction: all of it is written or none.'),
});
export type DatabaseDestinationConfig = z.output<typeof databaseDestinationConfig>;

function bindValue(v: unknown): BindValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return JSON.stringify(v);
}

interface CompiledStatement {
  sql: string;
  names: string[];
  params: Record<string, string>;
  forEach?: string;
}

/**
 * Runs the configured statements for each message in one transaction, binding named
 * parameters from the JSON payload. Connection failures and "try again" answers are `retry`;
 * anything else (a constraint violated, a bad value) is `failed` with the database's code.
 */
export class DatabaseDestination implements Destination {
  private readonly db: DatabaseClient;
  private readonly statements: CompiledStatement[];

  constructor(
    private readonly config: DatabaseDestinationConfig,
    private readonly context: DestinationContext,
  ) {
    this.db = openDatabase(config);
    this.statements = config.statements.map((s) => ({
      ...compileNamed(s.sql),
      params: s.params,
      ...(s.for_each !== undefined ? { forEach: s.for_each } : {}),
    }));
  }

  async send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    let payload: unknown;
    try {
      payload = JSON.parse(request.body.toString('utf8'));
    } catch {
      return { status: 'failed', code: 'json.syntax', error: 'the payload is not JSON' };
    }
    try {
      let rows = 0;
      await this.db.transaction(async (tx) => {
        for (const s of this.statements) {
          const items = s.forEach === undefined ? [payload] : readJsonPath(payload, s.forEach);
          if (!Array.isArray(items)) {
            throw new PayloadError(`for_each ${s.forEach ?? ''} is not an array in the payload`);
          }
          for (const item of items) {
            await tx.query(
              s.sql,
              s.names.map((n) => bindValue(readJsonPath(item, s.params[n] as string))),
            );
            rows++;
          }
        }
      });
      return { status: 'sent', code: `${rows} statement${rows === 1 ? '' : 's'}` };
    } catch (err) {
      if (err instanceof PayloadError) return { status: 'failed', code: 'payload.shape', error: err.message };
      const { retry, code, text } = classifyDatabaseError(err);
      this.context.logger.warn(
        { channelId: this.context.channelId, destination: this.context.destination, code, retry },
        'database destination: the statement failed',
      );
      return retry ? { status: 'retry', code, error: text } : { status: 'failed', code, error: text };
    }
  }

  close(): Promise<void> {
    return this.db.close();
  }

  describe(): string {
    return redactUrl(this.config.url);
  }
}

class PayloadError extends Error {}

export const databaseDestination: DestinationDefinition<DatabaseDestinationConfig> = {
  kind: 'destination',
  type: 'database',
  accepts: ['json', 'fhir'],
  description:
    'Writes each message into PostgreSQL, MySQL/MariaDB or SQLite: one or more parameterised statements ' +
    '(insert, upsert, update, a stored procedure call) whose `:name` parameters are read from the JSON ' +
    "payload (the transformer's output), run in one transaction per message. Values are bound by the " +
    'driver, never spliced into SQL; errors are logged by code only, without row values.',
  guarantee:
    'At least once, all or nothing per message: a connection failure, a refused login, a deadlock or a "try again" answer rolls ' +
    'the transaction back and is retried; a constraint violation or a refused value dead-letters the message ' +
    "with the database's error code (SQLSTATE, `ER_…`, `SQLITE_…`). Make statements idempotent (an upsert) " +
    'when a retry after a lost commit reply must not write twice.',
  configSchema: databaseDestinationConfig,
  example: {
    url: 'mysql://sinew@ehr-db:3306/ehr',
    password_file: '/run/secrets/ehr-db',
    statements: [
      {
        sql:
          'INSERT INTO patients (mrn, family, given) VALUES (:mrn, :family, :given) ' +
          'ON DUPLICATE KEY UPDATE family = VALUES(family), given = VALUES(given)',
        params: { mrn: 'mrn', family: 'name.family', given: 'name.given' },
      },
    ],
  },
  create: (config, context) => new DatabaseDestination(config, context),
};
