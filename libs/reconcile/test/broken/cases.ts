import { z } from 'zod';
import { LintCode } from '@sinew/channels';
import type { SideSchemas } from '../../src/schema';

/**
 * One deliberately broken reconciliation file per reconciliation lint code, with the exact lines
 * `sinew lint` prints for it when run in this folder. `broken.spec.ts` checks them;
 * docs/reference/lint-codes.md shows them as the examples of each code.
 */
export interface ReconcileBrokenCase {
  code: LintCode;
  input: string;
  lines: string[];
}

export const RECONCILE_BROKEN_CASES: ReconcileBrokenCase[] = [
  {
    code: LintCode.UnknownSystem,
    input: 'unknown-system.yaml',
    lines: [
      'unknown-system.yaml:11:23 error reconcile.unknown_system entities.0.target.system: no system named emr; did you mean ehr? (systems: pms, ehr)',
    ],
  },
  {
    code: LintCode.SystemType,
    input: 'system-type.yaml',
    lines: [
      'system-type.yaml:3:16 error reconcile.system_type systems.pms.type: unknown system type cvs; did you mean csv? (types: csv, fhir, http_json, ledger, sql)',
    ],
  },
  {
    code: LintCode.UnknownKey,
    input: 'side-settings.yaml',
    lines: [
      'side-settings.yaml:9:82 error schema.unknown_key entities.0.target.query: unknown key query (allowed: date_param, fields, key, params, resource, status, system)',
    ],
  },
  {
    code: LintCode.UnreadField,
    input: 'unread-field.yaml',
    lines: [
      'unread-field.yaml:16:15 error reconcile.unread_field entities.0.target.fields: this side does not say where to read birth_date (add it under fields:)',
    ],
  },
  {
    code: LintCode.Value,
    input: 'normaliser.yaml',
    lines: [
      'normaliser.yaml:9:35 error schema.value entities.0.fields.family.normalise.1: uper is not allowed; choose trim, upper, lower, collapse_spaces, digits, strip_accents; did you mean upper?',
    ],
  },
  {
    code: LintCode.Cron,
    input: 'cron.yaml',
    lines: [
      'cron.yaml:3:9 error reconcile.cron schedule.cron: 30 2 * * is not a 5-field cron expression (minute hour day month weekday)',
    ],
  },
  {
    code: LintCode.TimeZone,
    input: 'timezone.yaml',
    lines: [
      'timezone.yaml:2:11 error reconcile.timezone timezone: unknown time zone America/NewYork (an IANA name: Europe/London, America/New_York, UTC)',
    ],
  },
  {
    code: LintCode.Period,
    input: 'period.yaml',
    lines: [
      'period.yaml:2:9 error reconcile.period period: last_week is not a period; write yesterday, today, all, last_24h, last_7d, last_30d, YYYY-MM-DD, YYYY-MM-DD..YYYY-MM-DD',
    ],
  },
  {
    code: LintCode.Tolerance,
    input: 'tolerance.yaml',
    lines: [
      'tolerance.yaml:9:42 error reconcile.tolerance entities.0.fields.amount.tolerance: a number field\'s tolerance is a number (0.01), found "1c"',
      'tolerance.yaml:10:44 error expression.duration entities.0.fields.posted.tolerance: not a duration: 5 minutes (write 30s, 5m, 1h, 1d, or milliseconds)',
      'tolerance.yaml:11:26 error reconcile.tolerance entities.0.fields.code.tolerance: a string field takes no tolerance (number and datetime fields do)',
    ],
  },
  {
    code: LintCode.UnknownClass,
    input: 'unknown-class.yaml',
    lines: [
      'unknown-class.yaml:10:15 error reconcile.unknown_class entities.0.alerts.never_recieved: unknown class never_recieved; did you mean never_received?',
      'unknown-class.yaml:11:39 error reconcile.unknown_class entities.0.critical.1: unknown class dead_letter; did you mean dead_lettered?',
    ],
  },
  {
    code: LintCode.DuplicateReconcile,
    input: 'duplicate-entity.yaml',
    lines: [
      'duplicate-entity.yaml:10:11 error reconcile.duplicate entities.1.name: entity patients is declared twice (first as entities.0)',
    ],
  },
];

const fields = z.record(z.string(), z.string());

/** Adapter settings schemas as small as the examples need (the adapters declare the real ones). */
export const TEST_SIDE_SCHEMAS: SideSchemas = {
  csv: {
    system: z.strictObject({ dir: z.string() }),
    side: z.strictObject({
      file: z.string(),
      key: z.string(),
      fields,
      status: z.string().optional(),
      updated_at: z.string().optional(),
      delimiter: z.string().optional(),
    }),
  },
  fhir: {
    system: z.strictObject({ base_url: z.string() }),
    side: z.strictObject({
      resource: z.string(),
      key: z.string(),
      fields,
      params: z.record(z.string(), z.string()).optional(),
      status: z.string().optional(),
      date_param: z.string().optional(),
    }),
  },
  http_json: { system: z.looseObject({}), side: z.looseObject({}) },
  sql: { system: z.looseObject({}), side: z.looseObject({}) },
  ledger: {
    system: z.strictObject({}),
    side: z.strictObject({ channels: z.array(z.string()), key: z.string() }),
  },
};
