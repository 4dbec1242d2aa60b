/**
 * The records the PMS stand-in owns (patients, appointments, charges) as its REST API and its
 * SQLite tables hold them, and the checks a write passes before it is stored.
 */

export const SEXES = ['F', 'M', 'O', 'U'] as const;
export type Sex = (typeof SEXES)[number];

export const APPOINTMENT_STATUSES = ['booked', 'cancelled', 'noshow', 'fulfilled'] as const;
export type AppointmentStatus = (typeof APPOINTMENT_STATUSES)[number];

export const CHARGE_STATUSES = ['billed', 'cancelled'] as const;
export type ChargeStatus = (typeof CHARGE_STATUSES)[number];

/** A row of `patients`. */
export interface Patient {
  id: number;
  mrn: string;
  family: string;
  given: string;
  /** `YYYY-MM-DD`. */
  birth_date: string;
  sex: Sex;
  /** When the PMS last changed it (ISO 8601, UTC). */
  updated_at: string;
}

/** A row of `appointments`. */
export interface Appointment {
  id: number;
  /** The PMS's appointment number (`APT-000001` when not given). */
  appointment_id: string;
  mrn: string;
  /** ISO 8601 with its offset, as given (`2026-12-08T09:30:00-05:00`). */
  start: string;
  duration_min: number;
  status: AppointmentStatus;
  practitioner: string | null;
  location: string | null;
  updated_at: string;
}

/** A row of `charges`. */
export interface Charge {
  id: number;
  /** The PMS's charge number (`CHG-000001` when not given); FT1-2 of its DFT^P03. */
  charge_number: string;
  mrn: string;
  /** The procedure code (CPT). */
  code: string;
  description: string | null;
  amount: number;
  currency: string;
  status: ChargeStatus;
  /** `YYYY-MM-DD`. */
  service_date: string;
  updated_at: string;
}

export type EntityName = 'patients' | 'appointments' | 'charges';
export type RecordOf<E extends EntityName> = E extends 'patients'
  ? Patient
  : E extends 'appointments'
    ? Appointment
    : Charge;

/** The columns of each table, in order (also the CSV export's columns). */
export const COLUMNS: { [E in EntityName]: ReadonlyArray<keyof RecordOf<E> & string> } = {
  patients: ['id', 'mrn', 'family', 'given', 'birth_date', 'sex', 'updated_at'],
  appointments: [
    'id',
    'appointment_id',
    'mrn',
    'start',
    'duration_min',
    'status',
    'practitioner',
    'location',
    'updated_at',
  ],
  charges: [
    'id',
    'charge_number',
    'mrn',
    'code',
    'description',
    'amount',
    'currency',
    'status',
    'service_date',
    'updated_at',
  ],
};

/** A write refused because of one field: answered 400 naming it. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

type Body = Record<string, unknown>;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** ISO 8601 date and time with seconds optional and an offset required. */
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

export function isDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return (
    d.getUTCFullYear() === Number(m[1]) &&
    d.getUTCMonth() === Number(m[2]) - 1 &&
    d.getUTCDate() === Number(m[3])
  );
}

export function isInstant(value: string): boolean {
  const m = INSTANT.exec(value);
  return (
    !!m &&
    isDate(`${m[1]}-${m[2]}-${m[3]}`) &&
    Number(m[4]) < 24 &&
    Number(m[5]) < 60 &&
    Number(m[6] ?? 0) < 60
  );
}

/** Fields a client may send back unchanged with a full update; never written. */
const READ_ONLY = new Set(['id', 'updated_at']);

function refuseUnknown(body: Body, known: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!known.includes(key) && !READ_ONLY.has(key))
      throw new FieldError(key, `${key} is not a field of this record`);
  }
}

function text(body: Body, name: string, required: boolean, max = 200): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (required) throw new FieldError(name, `${name} is required`);
    return undefined;
  }
  if (typeof value !== 'string') throw new FieldError(name, `${name} must be a string`);
  const trimmed = value.trim();
  if (required && trimmed === '') throw new FieldError(name, `${name} must not be empty`);
  if (trimmed.length > max) throw new FieldError(name, `${name} must be at most ${max} characters`);
  return trimmed;
}

function optionalText(body: Body, name: string, max = 200): string | null | undefined {
  if (body[name] === null) return null;
  const value = text(body, name, false, max);
  return value === '' ? null : value;
}

function oneOf<T extends string>(
  body: Body,
  name: string,
  allowed: readonly T[],
  required: boolean,
): T | undefined {
  const value = text(body, name, required);
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new FieldError(name, `${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function date(body: Body, name: string, required: boolean): string | undefined {
  const value = text(body, name, required);
  if (value === undefined) return undefined;
  if (!isDate(value)) throw new FieldError(name, `${name} must be a date YYYY-MM-DD`);
  return value;
}

/** What a create or update writes: every field for a create, the fields given for an update. */
export type PatientInput = Partial<Omit<Patient, 'id' | 'updated_at'>>;
export type AppointmentInput = Partial<Omit<Appointment, 'id' | 'updated_at'>>;
export type ChargeInput = Partial<Omit<Charge, 'id' | 'updated_at'>>;

function defined<T extends object>(input: T): T {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as T;
}

/** A patient to create (`partial` false: mrn, family, given, birth_date and sex required) or the fields to change. */
export function patientInput(body: Body, partial: boolean): PatientInput {
  refuseUnknown(body, ['mrn', 'family', 'given', 'birth_date', 'sex']);
  return defined({
    mrn: text(body, 'mrn', !partial || 'mrn' in body, 20),
    family: text(body, 'family', !partial || 'family' in body),
    given: text(body, 'given', !partial || 'given' in body),
    birth_date: date(body, 'birth_date', !partial || 'birth_date' in body),
    sex: oneOf(body, 'sex', SEXES, !partial || 'sex' in body),
  });
}

/** An appointment to create (mrn and start required) or the fields to change. */
export function appointmentInput(body: Body, partial: boolean): AppointmentInput {
  refuseUnknown(body, [
    'appointment_id',
    'mrn',
    'start',
    'duration_min',
    'status',
    'practitioner',
    'location',
  ]);
  const start = text(body, 'start', !partial || 'start' in body);
  if (start !== undefined && !isInstant(start)) {
    throw new FieldError(
      'start',
      'start must be a date and time with its offset (2026-12-08T09:30:00-05:00)',
    );
  }
  let duration: number | undefined;
  if (body.duration_min !== undefined) {
    const d = body.duration_min;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > 1440) {
      throw new FieldError('duration_min', 'duration_min must be a whole number of minutes, 1-1440');
    }
    duration = d;
  }
  const appointmentId = text(body, 'appointment_id', partial && 'appointment_id' in body, 20);
  return defined({
    appointment_id: appointmentId === '' ? undefined : appointmentId,
    mrn: text(body, 'mrn', !partial || 'mrn' in body, 20),
    start,
    duration_min: duration ?? (partial ? undefined : 30),
    status:
      oneOf(body, 'status', APPOINTMENT_STATUSES, partial && 'status' in body) ??
      (partial ? undefined : 'booked'),
    practitioner: optionalText(body, 'practitioner', 80),
    location: optionalText(body, 'location', 80),
  });
}

/** A charge to create (mrn, code and amount required) or the fields to change. */
export function chargeInput(body: Body, partial: boolean, today: string): ChargeInput {
  refuseUnknown(body, [
    'charge_number',
    'mrn',
    'code',
    'description',
    'amount',
    'currency',
    'status',
    'service_date',
  ]);
  let amount: number | undefined;
  if (body.amount !== undefined || !partial) {
    const a = body.amount;
    if (a === undefined || a === null) throw new FieldError('amount', 'amount is required');
    if (typeof a !== 'number' || !Number.isFinite(a) || Math.abs(a) >= 1e9) {
      throw new FieldError('amount', 'amount must be a number');
    }
    amount = Math.round(a * 100) / 100;
  }
  const currency = text(body, 'currency', partial && 'currency' in body, 3);
  if (currency !== undefined && !/^[A-Z]{3}$/.test(currency)) {
    throw new FieldError('currency', 'currency must be an ISO 4217 code (USD)');
  }
  const chargeNumber = text(body, 'charge_number', partial && 'charge_number' in body, 20);
  return defined({
    charge_number: chargeNumber === '' ? undefined : chargeNumber,
    mrn: text(body, 'mrn', !partial || 'mrn' in body, 20),
    code: text(body, 'code', !partial || 'code' in body, 20),
    description: optionalText(body, 'description'),
    amount,
    currency: currency ?? (partial ? undefined : 'USD'),
    status:
      oneOf(body, 'status', CHARGE_STATUSES, partial && 'status' in body) ?? (partial ? undefined : 'billed'),
    service_date:
      date(body, 'service_date', partial && 'service_date' in body) ?? (partial ? undefined : today),
  });
}
