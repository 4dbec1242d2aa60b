import { DEFAULT_DELIMITERS, encodeValue } from '@sinew/hl7v2';
import type { Appointment, AppointmentStatus, Charge, Patient } from './pms-records';

/**
 * The HL7 v2.5.1 messages the PMS stand-in sends when its records change, as a practice
 * management system sends them: ADT^A04/A08 for a patient, SIU^S12/S14/S15 for an
 * appointment, DFT^P03 for a charge. Every value is escaped for the default delimiters.
 */

export const SENDING_APPLICATION = 'PMS';
export const SENDING_FACILITY = 'CLINIC';
/** PID-3's assigning authority. */
export const MRN_AUTHORITY = 'PMS';

export type AdtEvent = 'A04' | 'A08';
export type SiuEvent = 'S12' | 'S14' | 'S15';

/** What every message of one send shares: its control id (MSH-10) and when it is made. */
export interface MessageHeader {
  controlId: string;
  now: Date;
}

/** One escaped value. */
function v(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  return encodeValue(String(value), DEFAULT_DELIMITERS);
}

/** Components, each escaped, joined with `^` (trailing empty ones dropped). */
function c(...parts: Array<string | number | null | undefined>): string {
  return parts.map(v).join('^').replace(/\^+$/, '');
}

/** A segment: its name and fields (already escaped), trailing empty fields dropped. */
function segment(name: string, ...fields: string[]): string {
  return [name, ...fields].join('|').replace(/\|+$/, '');
}

/** An instant as HL7 DTM in UTC: YYYYMMDDHHMMSS+0000. */
export function hl7Utc(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}+0000`;
}

/** `YYYY-MM-DD` as HL7 DT (YYYYMMDD). */
export function hl7Date(date: string): string {
  return date.replace(/-/g, '');
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * An ISO 8601 date-time with offset as HL7 DTM in the same offset (YYYYMMDDHHMMSS±ZZZZ), moved
 * on by `plusMinutes`: the clinic's local time stays as the PMS holds it.
 */
export function hl7Instant(iso: string, plusMinutes = 0): string {
  const m = ISO.exec(iso);
  if (!m) throw new RangeError('not an ISO 8601 date-time with offset');
  const offset = m[7] === 'Z' ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  const local = Date.UTC(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]) + plusMinutes,
    Number(m[6] ?? 0),
  );
  const digits = new Date(local).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const abs = Math.abs(offset);
  const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  return `${digits}${zone}`;
}

function msh(type: string, header: MessageHeader): string {
  return [
    'MSH',
    '^~\\&',
    SENDING_APPLICATION,
    SENDING_FACILITY,
    'SINEW',
    SENDING_FACILITY,
    hl7Utc(header.now),
    '',
    type,
    v(header.controlId),
    'P',
    '2.5.1',
  ].join('|');
}

function pid(p: Patient): string {
  return segment(
    'PID',
    '1',
    '',
    c(p.mrn, '', '', MRN_AUTHORITY, 'MR'),
    '',
    c(p.family, p.given),
    '',
    hl7Date(p.birth_date),
    v(p.sex),
  );
}

/** ADT^A04 (a patient registered) or ADT^A08 (a patient's details changed). */
export function adtMessage(event: AdtEvent, patient: Patient, header: MessageHeader): string {
  return [
    msh(`ADT^${event}^ADT_A01`, header),
    segment('EVN', event, hl7Utc(header.now)),
    pid(patient),
    // A registration is no visit: PV1 without a patient class carries none.
    segment('PV1', '1'),
  ].join('\r');
}

/** HL7 table 0278 (filler status codes) for each PMS status. */
const FILLER_STATUS: Record<AppointmentStatus, string> = {
  booked: 'Booked',
  cancelled: 'Cancelled',
  noshow: 'Noshow',
  fulfilled: 'Complete',
};

const EVENT_REASON: Record<SiuEvent, string> = {
  S12: c('NEW', 'New appointment', 'LOCAL'),
  S14: c('MOD', 'Appointment modified', 'LOCAL'),
  S15: c('CAN', 'Appointment cancelled', 'LOCAL'),
};

/** SIU^S12 (booked), SIU^S14 (modified) or SIU^S15 (cancelled) for one appointment and its patient. */
export function siuMessage(event: SiuEvent, a: Appointment, patient: Patient, header: MessageHeader): string {
  const start = hl7Instant(a.start);
  const end = hl7Instant(a.start, a.duration_min);
  const id = c(a.appointment_id, SENDING_APPLICATION);
  const sch = [
    id, // SCH-1 placer appointment id
    id, // SCH-2 filler appointment id: the PMS keeps the schedule
    '',
    '',
    '',
    EVENT_REASON[event], // SCH-6
    '',
    '',
    String(a.duration_min), // SCH-9
    c('min', 'minutes', 'ISO'), // SCH-10
    c('', '', a.duration_min, start, end), // SCH-11 (timing quantity, as older receivers read it)
    ...new Array<string>(13).fill(''), // SCH-12 … SCH-24
    v(event === 'S15' ? FILLER_STATUS.cancelled : FILLER_STATUS[a.status]), // SCH-25
  ];
  const segments = [
    msh(`SIU^${event}^SIU_S12`, header),
    segment('SCH', ...sch),
    segment('TQ1', '1', '', '', '', '', '', start, end),
    pid(patient),
    segment('RGS', '1', 'A'),
    segment(
      'AIS',
      '1',
      'A',
      c('OFFICE', 'Office visit', 'LOCAL'),
      start,
      '',
      '',
      String(a.duration_min),
      'min',
    ),
  ];
  if (a.location) segments.push(segment('AIL', '1', 'A', c(a.location, '', '', SENDING_FACILITY), start));
  if (a.practitioner) segments.push(segment('AIP', '1', 'A', c(a.practitioner), '', '', start));
  return segments.join('\r');
}

/**
 * DFT^P03 for one charge: FT1 of type CG (charge) while it is billed; a cancelled charge is sent
 * as its reversal, type CD (credit) with the amount negated, under the same transaction id.
 */
export function dftMessage(charge: Charge, patient: Patient, header: MessageHeader): string {
  const cancelled = charge.status === 'cancelled';
  const amount = (cancelled ? -charge.amount : charge.amount).toFixed(2);
  return [
    msh('DFT^P03^DFT_P03', header),
    segment('EVN', 'P03', hl7Utc(header.now)),
    pid(patient),
    segment(
      'FT1',
      '1',
      v(charge.charge_number), // FT1-2 transaction id
      '',
      hl7Date(charge.service_date), // FT1-4 transaction date
      hl7Utc(header.now), // FT1-5 posting date
      cancelled ? 'CD' : 'CG', // FT1-6 transaction type
      c(charge.code, charge.description, 'C4'), // FT1-7 transaction code (CPT)
      '',
      '',
      '1', // FT1-10 quantity
      `${v(amount)}&${v(charge.currency)}`, // FT1-11 extended amount (MO: quantity & currency)
    ),
  ].join('\r');
}
