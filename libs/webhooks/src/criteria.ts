import type { FhirResource, HubChange } from '@sinew/hub';

/**
 * The criteria of a FHIR R4 Subscription, a documented subset of FHIR search: a resource type
 * alone (`Patient`), or with `status` (`Appointment?status=booked,arrived`) and, for
 * Observation and DiagnosticReport, `code` (`Observation?code=http://loinc.org|2345-7`, a code
 * without a system matching any system). Several values of one parameter (comma-separated)
 * match any of them; several parameters must all match.
 */
export const CRITERIA_TYPES = [
  'Patient',
  'Appointment',
  'Encounter',
  'Observation',
  'DiagnosticReport',
  'ChargeItem',
  'Invoice',
  'Immunization',
  'DocumentReference',
  'Coverage',
] as const;

const CODED = new Set(['Observation', 'DiagnosticReport']);

export interface Criteria {
  resourceType: string;
  status?: string[];
  code?: Array<{ system?: string; code: string }>;
}

export class CriteriaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CriteriaError';
  }
}

export function parseCriteria(text: string): Criteria {
  if (typeof text !== 'string' || text.trim() === '') throw new CriteriaError('criteria is required');
  const [type, query, ...rest] = text.trim().split('?');
  if (rest.length > 0) throw new CriteriaError('criteria has more than one "?"');
  if (!(CRITERIA_TYPES as readonly string[]).includes(type as string))
    throw new CriteriaError(
      `criteria resource type must be one of ${CRITERIA_TYPES.join(', ')} (got ${JSON.stringify(type)})`,
    );
  const criteria: Criteria = { resourceType: type as string };
  if (query === undefined || query === '') return criteria;
  for (const [name, raw] of new URLSearchParams(query)) {
    const values = raw
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    if (values.length === 0) throw new CriteriaError(`criteria parameter ${name} has no value`);
    if (name === 'status' && type !== 'Patient') {
      criteria.status = [...(criteria.status ?? []), ...values];
    } else if (name === 'code' && CODED.has(type as string)) {
      criteria.code = [
        ...(criteria.code ?? []),
        ...values.map((v) => {
          const bar = v.indexOf('|');
          return bar < 0 ? { code: v } : { system: v.slice(0, bar), code: v.slice(bar + 1) };
        }),
      ];
    } else {
      throw new CriteriaError(
        `criteria parameter ${name} is not supported for ${type as string} (supported: ${
          type === 'Patient' ? 'none' : CODED.has(type as string) ? 'status, code' : 'status'
        })`,
      );
    }
  }
  return criteria;
}

function codings(resource: FhirResource): Array<{ system?: unknown; code?: unknown }> {
  const code = resource.code as { coding?: unknown } | undefined;
  return Array.isArray(code?.coding) ? (code.coding as Array<{ system?: unknown; code?: unknown }>) : [];
}

/** Whether a hub change notifies a subscription with these criteria (a created or updated resource that matches). */
export function matchesCriteria(criteria: Criteria, change: HubChange): boolean {
  if (change.resourceType !== criteria.resourceType) return false;
  if (change.action === 'deleted') return false;
  const r = change.resource;
  if (criteria.status && !criteria.status.includes(typeof r.status === 'string' ? r.status : ''))
    return false;
  if (criteria.code) {
    const have = codings(r);
    const hit = criteria.code.some((want) =>
      have.some((c) => c.code === want.code && (want.system === undefined || c.system === want.system)),
    );
    if (!hit) return false;
  }
  return true;
}
