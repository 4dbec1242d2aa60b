import { Faker, base, en, en_US } from '@faker-js/faker';
import { ClinicClock, comp, esc, segment } from './hl7';
import {
  CANCEL_REASONS,
  ESTABLISHED_VISITS,
  LAB_PANELS,
  NEW_PATIENT_VISIT,
  ROSTER_ROLES,
  SANDBOX_AUTHORITY,
  SANDBOX_FACILITY,
  SANDBOX_LAB,
  SANDBOX_PMS,
  VENIPUNCTURE,
  type Analyte,
  type LabPanel,
  type VisitType,
} from './reference';

/** Which of the sandbox's channels a message goes to. */
export type SandboxChannel = 'adt' | 'siu' | 'lab' | 'dft';

export interface SandboxMessage {
  channel: SandboxChannel;
  /** MSH-9.1^MSH-9.2, e.g. `SIU^S12`. */
  type: string;
  /** MSH-10. */
  controlId: string;
  /** The patient's MRN (PID-3.1): messages of one patient are sent in this order. */
  patient: string;
  /** When the event happens in the clinic, ISO 8601 with the clinic's offset. */
  at: string;
  /** The message, segments ending in CR. */
  text: string;
}

export interface SandboxOptions {
  /** Seed of every random draw: the same options give byte-identical messages. */
  seed: number;
  /** Patients registered with the clinic (default 200). */
  patients?: number;
  /** Clinic days (weekdays) simulated (default 5). */
  days?: number;
  /** First calendar day, `YYYY-MM-DD` (default 2026-03-02, a Monday). */
  startDate?: string;
  /** The clinic's fixed UTC offset (default -0500). */
  utcOffset?: string;
}

export interface SandboxPatient {
  mrn: string;
  family: string;
  given: string;
  middle: string;
  sex: 'F' | 'M';
  /** `YYYYMMDD`. */
  birthDate: string;
  /** Age in whole years on the first day. */
  age: number;
  street: string;
  other: string;
  city: string;
  state: string;
  zip: string;
  area: string;
  phone: string;
  email: string;
  marital: string;
  account: string;
}

export interface SandboxPractitioner {
  id: string;
  family: string;
  given: string;
  degree: string;
  role: { code: string; display: string };
  room: string;
}

export interface SandboxAppointment {
  id: string;
  patient: string;
  practitioner: string;
  /** Clinic minutes. */
  start: number;
  minutes: number;
  visit: VisitType;
  outcome: 'attended' | 'cancelled' | 'noshow' | 'modified';
  labs: string[];
}

export interface SandboxClinic {
  options: Required<SandboxOptions>;
  /** The patients as they stand at the end of the run (after their updates). */
  patients: SandboxPatient[];
  practitioners: SandboxPractitioner[];
  appointments: SandboxAppointment[];
  /** Every message, in the order the clinic's systems send them. */
  messages: SandboxMessage[];
}

const DEFAULTS = { patients: 200, days: 5, startDate: '2026-03-02', utcOffset: '-0500' };

/** Opening hours (clinic minutes within a day) and the lunch break without appointments. */
const OPEN = 8 * 60;
const CLOSE = 17 * 60;
const LUNCH = [12 * 60, 13 * 60] as const;
/** Front-desk hours, when bookings, changes and registrations are made. */
const DESK_OPEN = 7 * 60 + 30;
const DESK_CLOSE = 18 * 60;
/** The first minute of the run: what was booked before it is sent from then on. */
const RUN_START = 7 * 60;
/** A practitioner's slot grid. */
const SLOT = 20;

/** Whether a slot starting at this minute of the day is within hours and outside lunch. */
function inGrid(minuteOfDay: number): boolean {
  return (
    minuteOfDay >= OPEN && minuteOfDay + SLOT <= CLOSE && !(minuteOfDay >= LUNCH[0] && minuteOfDay < LUNCH[1])
  );
}

/** Share of booked appointments that end each way (the rest are attended). */
const CANCEL_SHARE = 0.08;
const NOSHOW_SHARE = 0.06;
const MODIFY_SHARE = 0.05;
/** Share of attended visits that send blood to the lab; of results later corrected. */
const LAB_SHARE = 0.4;
const CORRECTION_SHARE = 0.05;
/** Share of patients whose address or phone number changes during the run (ADT^A08). */
const UPDATE_SHARE = 0.06;
/** A patient visits about once every this many clinic days. */
const DAYS_BETWEEN_VISITS = 20;

/** Diagnoses a visit is charged under (ICD-10-CM). */
const DIAGNOSES = [
  { code: 'Z00.00', display: 'Encounter for general adult medical examination without abnormal findings' },
  { code: 'I10', display: 'Essential (primary) hypertension' },
  { code: 'E11.9', display: 'Type 2 diabetes mellitus without complications' },
  { code: 'E78.5', display: 'Hyperlipidemia, unspecified' },
  { code: 'J06.9', display: 'Acute upper respiratory infection, unspecified' },
  { code: 'M54.50', display: 'Low back pain, unspecified' },
] as const;

interface PendingEvent {
  at: number;
  seq: number;
  patient: string;
  channel: SandboxChannel;
  type: string;
  build: (controlId: string, stamp: string) => string[];
}

/**
 * A synthetic clinic: its patients, practitioner roster and appointments over `days` clinic
 * days, and the HL7 v2.5.1 messages its practice-management system (ADT^A04/A08, SIU^S12/S14/
 * S15/S26, DFT^P03) and its laboratory (ORU^R01, some corrected later) send about them.
 * Deterministic: the same options give the same messages, byte for byte.
 */
export function generateClinic(input: SandboxOptions): SandboxClinic {
  const options: Required<SandboxOptions> = {
    seed: input.seed,
    patients: input.patients ?? DEFAULTS.patients,
    days: input.days ?? DEFAULTS.days,
    startDate: input.startDate ?? DEFAULTS.startDate,
    utcOffset: input.utcOffset ?? DEFAULTS.utcOffset,
  };
  if (!Number.isSafeInteger(options.seed) || options.seed < 0)
    throw new Error('the seed must be a whole number');
  if (!Number.isSafeInteger(options.patients) || options.patients < 1) {
    throw new Error('the number of patients must be a whole number from 1');
  }
  if (!Number.isSafeInteger(options.days) || options.days < 1 || options.days > 366) {
    throw new Error('the number of days must be a whole number from 1 to 366');
  }
  const clock = new ClinicClock(options.startDate, options.utcOffset);
  const faker = new Faker({ locale: [en_US, en, base] });
  faker.seed(options.seed);
  const rnd = () => faker.number.float({ min: 0, max: 1 });
  const chance = (p: number) => rnd() < p;
  const int = (min: number, max: number) => faker.number.int({ min, max });
  const normal = (mean: number, sd: number) => {
    const u = Math.max(rnd(), 1e-12);
    const v = rnd();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };

  const patients = Array.from({ length: options.patients }, (_, i) =>
    makePatient(faker, clock, i, int, chance),
  );
  const practitionerCount = Math.min(12, Math.max(2, Math.ceil(options.patients / DAYS_BETWEEN_VISITS / 12)));
  const practitioners = Array.from({ length: practitionerCount }, (_, i) => makePractitioner(faker, i));
  const clerks = Array.from({ length: 2 }, (_, i) =>
    comp(
      `DESK${String(i + 1).padStart(2, '0')}`,
      esc(faker.person.lastName().toUpperCase()),
      esc(faker.person.firstName().toUpperCase()),
    ),
  );

  const events: PendingEvent[] = [];
  let seq = 0;
  const push = (e: Omit<PendingEvent, 'seq'>) => events.push({ ...e, seq: seq++ });
  const registeredAt = new Map<string, number>();
  const seen = new Set<string>();
  const appointments: SandboxAppointment[] = [];
  let orderCounter = 0;
  let chargeCounter = 0;

  // Calendar days covering `days` weekdays.
  const clinicDays: number[] = [];
  for (let day = 0; clinicDays.length < options.days; day++) {
    const wd = clock.weekday(day);
    if (wd !== 0 && wd !== 6) clinicDays.push(day);
  }
  const lastMinute = ((clinicDays[clinicDays.length - 1] ?? 0) + 1) * 1440;
  /**
   * A front-desk time before `limit`, up to `maxDays` days earlier; what would fall before the
   * run is sent as it starts (bookings made earlier, the backlog).
   */
  const officeBefore = (limit: number, maxDays: number): number => {
    const back = int(0, maxDays);
    const day = Math.floor(limit / 1440) - back;
    const earliest = day * 1440 + DESK_OPEN;
    const t =
      back > 0
        ? day * 1440 + int(DESK_OPEN, DESK_CLOSE - 1)
        : limit - 1 <= earliest
          ? limit - 1
          : int(earliest, limit - 1);
    return Math.max(RUN_START, t);
  };

  for (const day of clinicDays) {
    const dayStart = day * 1440;
    const wanted = Math.max(1, Math.round((options.patients / DAYS_BETWEEN_VISITS) * (0.8 + 0.4 * rnd())));
    const slots: Array<{ practitioner: SandboxPractitioner; start: number }> = [];
    for (const practitioner of practitioners) {
      for (let t = OPEN; t + SLOT <= CLOSE; t += SLOT) {
        if (t >= LUNCH[0] && t < LUNCH[1]) continue;
        slots.push({ practitioner, start: dayStart + t });
      }
    }
    const chosen = faker.helpers.arrayElements(slots, Math.min(wanted, slots.length));
    chosen.sort((a, b) => a.start - b.start || a.practitioner.id.localeCompare(b.practitioner.id));
    // The slots each appointment covers, so that none overlaps another of its practitioner.
    const taken = new Set<string>();
    const covered = (pr: SandboxPractitioner, start: number, length: number) =>
      Array.from({ length: Math.ceil(length / SLOT) }, (_, k) => start + k * SLOT).map((t) => ({
        key: `${pr.id}@${t}`,
        t,
      }));
    const isFree = (pr: SandboxPractitioner, start: number, length: number) =>
      covered(pr, start, length).every(({ key, t }) => !taken.has(key) && inGrid(t - dayStart));
    const take = (pr: SandboxPractitioner, start: number, length: number) => {
      for (const { key } of covered(pr, start, length)) taken.add(key);
    };
    const booked = new Set<string>();
    for (const slot of chosen) {
      if (!isFree(slot.practitioner, slot.start, SLOT)) continue;
      let patient = faker.helpers.arrayElement(patients);
      for (let tries = 0; booked.has(patient.mrn) && tries < 5; tries++)
        patient = faker.helpers.arrayElement(patients);
      if (booked.has(patient.mrn)) continue;
      booked.add(patient.mrn);
      const isNew = !seen.has(patient.mrn) && chance(0.15);
      seen.add(patient.mrn);
      const visit = isNew ? NEW_PATIENT_VISIT : faker.helpers.weightedArrayElement([...ESTABLISHED_VISITS]);
      // A visit too long for the free time before the next booking takes one slot.
      const minutes = isFree(slot.practitioner, slot.start, visit.minutes) ? visit.minutes : SLOT;
      take(slot.practitioner, slot.start, minutes);
      const id = `APT-${String(appointments.length + 1).padStart(6, '0')}`;
      const roll = rnd();
      const outcome: SandboxAppointment['outcome'] =
        roll < CANCEL_SHARE
          ? 'cancelled'
          : roll < CANCEL_SHARE + NOSHOW_SHARE
            ? 'noshow'
            : roll < CANCEL_SHARE + NOSHOW_SHARE + MODIFY_SHARE
              ? 'modified'
              : 'attended';
      const appt: SandboxAppointment = {
        id,
        patient: patient.mrn,
        practitioner: slot.practitioner.id,
        start: slot.start,
        minutes,
        visit,
        outcome,
        labs: [],
      };
      appointments.push(appt);
      const clerk = faker.helpers.arrayElement(clerks);
      // Booked up to two weeks ahead; bookings made before the run are sent as it starts.
      const bookedAt = officeBefore(slot.start, 14);
      const booking = { ...appt };
      push({
        at: bookedAt,
        patient: patient.mrn,
        channel: 'siu',
        type: 'SIU^S12',
        build: (ctl, stamp) =>
          siuMessage(
            'S12',
            booking,
            patient,
            slot.practitioner,
            ctl,
            stamp,
            clerk,
            'Booked',
            NEW_REASON,
            clock,
          ),
      });
      if (outcome === 'cancelled') {
        const reason = faker.helpers.arrayElement(CANCEL_REASONS);
        const at = Math.max(bookedAt + 1, officeBefore(slot.start, 2));
        push({
          at,
          patient: patient.mrn,
          channel: 'siu',
          type: 'SIU^S15',
          build: (ctl, stamp) =>
            siuMessage(
              'S15',
              booking,
              patient,
              slot.practitioner,
              ctl,
              stamp,
              clerk,
              'Cancelled',
              reason,
              clock,
            ),
        });
        continue;
      }
      if (outcome === 'modified') {
        // Moved to a later free time of the same practitioner that day, or else lengthened by a
        // slot when the next one is free (otherwise only its details change).
        const free = slots.filter(
          (s) =>
            s.practitioner === slot.practitioner &&
            s.start > slot.start &&
            isFree(s.practitioner, s.start, minutes),
        );
        const moved = free.length > 0 ? faker.helpers.arrayElement(free) : undefined;
        if (moved) {
          take(slot.practitioner, moved.start, minutes);
          appt.start = moved.start;
        } else {
          const next = slot.start + Math.ceil(minutes / SLOT) * SLOT;
          if (isFree(slot.practitioner, next, SLOT)) {
            take(slot.practitioner, next, SLOT);
            appt.minutes = next + SLOT - slot.start;
          }
        }
        const changed = { ...appt };
        const at = Math.max(bookedAt + 1, officeBefore(slot.start, 1));
        push({
          at,
          patient: patient.mrn,
          channel: 'siu',
          type: 'SIU^S14',
          build: (ctl, stamp) =>
            siuMessage(
              'S14',
              changed,
              patient,
              slot.practitioner,
              ctl,
              stamp,
              clerk,
              'Booked',
              CHANGE_REASON,
              clock,
            ),
        });
      }
      if (outcome === 'noshow') {
        const noshow = { ...appt };
        push({
          at: appt.start + 30,
          patient: patient.mrn,
          channel: 'siu',
          type: 'SIU^S26',
          build: (ctl, stamp) =>
            siuMessage(
              'S26',
              noshow,
              patient,
              slot.practitioner,
              ctl,
              stamp,
              clerk,
              'Noshow',
              NOSHOW_REASON,
              clock,
            ),
        });
        continue;
      }
      // Attended: labs drawn at the visit, charges posted after it.
      const visitNumber = `V${id.slice(4)}`;
      const end = appt.start + appt.minutes;
      if (chance(LAB_SHARE)) {
        const count = chance(0.3) ? 2 : 1;
        const panels = faker.helpers.arrayElements(
          LAB_PANELS.map((p) => p),
          count,
        );
        for (const panel of panels) {
          orderCounter++;
          appt.labs.push(panel.code);
          const order = {
            placer: `ORD-${String(orderCounter).padStart(6, '0')}`,
            filler: `LAB-${String(orderCounter).padStart(6, '0')}`,
            collected: end - int(0, 10),
          };
          const values = drawPanel(panel, patient, normal);
          const resultedAt = end + int(120, 26 * 60);
          const practitioner = slot.practitioner;
          push({
            at: resultedAt,
            patient: patient.mrn,
            channel: 'lab',
            type: 'ORU^R01',
            build: (ctl, stamp) =>
              oruMessage(patient, practitioner, order, panel, values, ctl, stamp, clock, resultedAt, 'F', -1),
          });
          if (chance(CORRECTION_SHARE)) {
            const which = int(0, values.length - 1);
            const corrected = values.map((v, i) =>
              i === which ? redraw(panel.analytes[i] as Analyte, patient, normal) : v,
            );
            const correctedAt = resultedAt + int(240, 2 * 1440);
            push({
              at: correctedAt,
              patient: patient.mrn,
              channel: 'lab',
              type: 'ORU^R01',
              build: (ctl, stamp) =>
                oruMessage(
                  patient,
                  practitioner,
                  order,
                  panel,
                  corrected,
                  ctl,
                  stamp,
                  clock,
                  correctedAt,
                  'C',
                  which,
                ),
            });
          }
        }
      }
      const charges = [
        { ...appt.visit.cpt },
        ...(appt.labs.length > 0 ? [VENIPUNCTURE] : []),
        ...appt.labs.map((code) => (LAB_PANELS.find((p) => p.code === code) as LabPanel).cpt),
      ].map((c) => ({ ...c, id: `CHG-${String(++chargeCounter).padStart(7, '0')}` }));
      const diagnosis = faker.helpers.arrayElement(DIAGNOSES);
      const postedAt = end + int(15, 180);
      const practitioner = slot.practitioner;
      const service = appt.start;
      push({
        at: postedAt,
        patient: patient.mrn,
        channel: 'dft',
        type: 'DFT^P03',
        build: (ctl, stamp) =>
          dftMessage(patient, practitioner, visitNumber, charges, diagnosis, ctl, stamp, clock, service),
      });
    }
  }

  // Each patient registers (A04) before their first booking; those not booked in the run,
  // on a random day.
  const firstEvent = new Map<string, number>();
  for (const e of events) firstEvent.set(e.patient, Math.min(e.at, firstEvent.get(e.patient) ?? e.at));
  for (const p of patients) {
    const first = firstEvent.get(p.mrn);
    const at =
      first !== undefined
        ? Math.min(first, officeBefore(first, 3))
        : faker.helpers.arrayElement(clinicDays) * 1440 + int(OPEN, DESK_CLOSE - 1);
    registeredAt.set(p.mrn, at);
    const clerk = faker.helpers.arrayElement(clerks);
    push({
      at,
      patient: p.mrn,
      channel: 'adt',
      type: 'ADT^A04',
      build: (ctl, stamp) => adtMessage('A04', p, ctl, stamp, clerk),
    });
  }
  // Some change their address or phone number after registering.
  for (const p of patients) {
    if (!chance(UPDATE_SHARE)) continue;
    const from = (registeredAt.get(p.mrn) ?? 0) + 60;
    if (from >= lastMinute) continue;
    const updated: SandboxPatient = chance(0.5)
      ? { ...p, ...newAddress(faker) }
      : { ...p, area: String(int(201, 989)), phone: fictionalPhone(int) };
    const clerk = faker.helpers.arrayElement(clerks);
    push({
      at: Math.max(
        from,
        Math.floor(int(from, lastMinute - 1) / 1440) * 1440 + int(DESK_OPEN, DESK_CLOSE - 1),
      ),
      patient: p.mrn,
      channel: 'adt',
      type: 'ADT^A08',
      // From this message on, the patient's messages carry the new details.
      build: (ctl, stamp) => {
        const lines = adtMessage('A08', updated, ctl, stamp, clerk);
        Object.assign(p, updated);
        return lines;
      },
    });
  }

  // In time order; at the same minute a registration goes first, then the order of creation.
  const rank = (e: PendingEvent) => (e.type === 'ADT^A04' ? 0 : 1);
  events.sort((a, b) => a.at - b.at || rank(a) - rank(b) || a.seq - b.seq);
  ensurePatientOrder(events, registeredAt);
  const messages = events.map((e, i): SandboxMessage => {
    const controlId = `SBX${options.seed}-${String(i + 1).padStart(7, '0')}`;
    return {
      channel: e.channel,
      type: e.type,
      controlId,
      patient: e.patient,
      at: clock.iso(e.at),
      text: `${e.build(controlId, clock.stamp(e.at)).join('\r')}\r`,
    };
  });
  return { options, patients, practitioners, appointments, messages };
}

/** Guards the one ordering rule consumers rely on: a patient's A04 comes before the rest of theirs. */
function ensurePatientOrder(events: PendingEvent[], registeredAt: Map<string, number>): void {
  const registered = new Set<string>();
  for (const e of events) {
    if (e.type === 'ADT^A04') registered.add(e.patient);
    else if (!registered.has(e.patient)) {
      throw new Error(
        `sandbox: an event at ${e.at} precedes the registration at ${registeredAt.get(e.patient)}`,
      );
    }
  }
}

const NEW_REASON = { code: 'NEW', display: 'New appointment' };
const CHANGE_REASON = { code: 'CHANGE', display: 'Appointment changed' };
const NOSHOW_REASON = { code: 'NOSHOW', display: 'Patient did not attend' };

const AGE_BANDS = [
  { weight: 18, value: [0, 17] },
  { weight: 27, value: [18, 39] },
  { weight: 35, value: [40, 64] },
  { weight: 20, value: [65, 95] },
] as const;

function makePatient(
  faker: Faker,
  clock: ClinicClock,
  index: number,
  int: (min: number, max: number) => number,
  chance: (p: number) => boolean,
): SandboxPatient {
  const sex = chance(0.52) ? 'F' : 'M';
  const band = faker.helpers.weightedArrayElement(
    AGE_BANDS.map((b) => ({ weight: b.weight, value: b.value })),
  );
  const age = int(band[0], band[1]);
  const birthDate = clock.daysBefore(age * 365 + Math.floor(age / 4) + int(1, 364));
  const family = faker.person.lastName();
  const given = faker.person.firstName(sex === 'F' ? 'female' : 'male');
  const middle = faker.person.firstName(sex === 'F' ? 'female' : 'male').slice(0, 1);
  const address = newAddress(faker);
  const marital =
    age < 18
      ? ''
      : faker.helpers.weightedArrayElement([
          { weight: 45, value: 'M' },
          { weight: 35, value: 'S' },
          { weight: 12, value: 'D' },
          { weight: 8, value: 'W' },
        ]);
  const mailbox = `${given}.${family}`.toLowerCase().replace(/[^a-z.]/g, '');
  return {
    mrn: `SBX${String(index + 1).padStart(6, '0')}`,
    family,
    given,
    middle,
    sex,
    birthDate,
    age,
    ...address,
    area: String(int(201, 989)),
    phone: fictionalPhone(int),
    email: chance(0.6) ? `${mailbox}${int(1, 99)}@example.com` : '',
    marital,
    account: `ACC${String(index + 1).padStart(7, '0')}`,
  };
}

function newAddress(faker: Faker): Pick<SandboxPatient, 'street' | 'other' | 'city' | 'state' | 'zip'> {
  return {
    street: faker.location.streetAddress(),
    other: faker.number.int({ min: 0, max: 4 }) === 0 ? faker.location.secondaryAddress() : '',
    city: faker.location.city(),
    state: faker.location.state({ abbreviated: true }),
    zip: faker.location.zipCode('#####'),
  };
}

/** A number in 555-0100 … 555-0199, the range set aside for fiction. */
function fictionalPhone(int: (min: number, max: number) => number): string {
  return `55501${String(int(0, 99)).padStart(2, '0')}`;
}

function makePractitioner(faker: Faker, index: number): SandboxPractitioner {
  const role = ROSTER_ROLES[index % ROSTER_ROLES.length] as { code: string; display: string };
  return {
    id: `PR${String(index + 1).padStart(4, '0')}`,
    family: faker.person.lastName(),
    given: faker.person.firstName(),
    degree: role.code,
    role,
    room: String(101 + index),
  };
}

function pid(p: SandboxPatient, full: boolean): string {
  const name = comp(esc(p.family.toUpperCase()), esc(p.given.toUpperCase()), esc(p.middle), '', '', '', 'L');
  const id = comp(p.mrn, '', '', SANDBOX_AUTHORITY, 'MR');
  if (!full) return segment('PID', 1, '', id, '', name, '', p.birthDate, p.sex);
  const address = comp(esc(p.street), esc(p.other), esc(p.city), p.state, p.zip, 'USA', 'H');
  const phones = [comp('', 'PRN', 'PH', '', 1, p.area, p.phone)];
  if (p.email) phones.push(comp('', 'NET', 'Internet', esc(p.email)));
  return segment(
    'PID',
    1,
    '',
    id,
    '',
    name,
    '',
    p.birthDate,
    p.sex,
    '',
    '',
    address,
    '',
    phones.join('~'),
    '',
    '',
    p.marital,
    '',
    comp(p.account, '', '', SANDBOX_AUTHORITY, 'AN'),
  );
}

function xcn(pr: SandboxPractitioner): string {
  return comp(
    pr.id,
    esc(pr.family.toUpperCase()),
    esc(pr.given.toUpperCase()),
    '',
    '',
    pr.degree === 'MD' ? 'DR' : '',
    pr.degree,
    '',
    SANDBOX_AUTHORITY,
  );
}

function location(pr: SandboxPractitioner): string {
  return comp('CLINIC', pr.room, '', SANDBOX_AUTHORITY);
}

function msh(
  app: string,
  facility: string,
  type: string,
  structure: string,
  controlId: string,
  stamp: string,
): string {
  return segment(
    'MSH',
    '^~\\&',
    app,
    facility,
    'SINEW',
    SANDBOX_FACILITY,
    stamp,
    '',
    `${type}^${structure}`,
    controlId,
    'T',
    '2.5.1',
  );
}

function adtMessage(
  event: 'A04' | 'A08',
  p: SandboxPatient,
  controlId: string,
  stamp: string,
  clerk: string,
): string[] {
  return [
    msh(SANDBOX_PMS, SANDBOX_FACILITY, `ADT^${event}`, 'ADT_A01', controlId, stamp),
    segment('EVN', event, stamp, '', '', clerk),
    pid(p, true),
    segment('PV1', 1, 'N'),
  ];
}

function siuMessage(
  event: 'S12' | 'S14' | 'S15' | 'S26',
  a: SandboxAppointment,
  p: SandboxPatient,
  pr: SandboxPractitioner,
  controlId: string,
  stamp: string,
  clerk: string,
  status: string,
  reason: { code: string; display: string },
  clock: ClinicClock,
): string[] {
  const start = clock.stamp(a.start);
  const end = clock.stamp(a.start + a.minutes);
  const service = comp(a.visit.code, esc(a.visit.display), 'LOCAL');
  return [
    msh(SANDBOX_PMS, SANDBOX_FACILITY, `SIU^${event}`, 'SIU_S12', controlId, stamp),
    segment(
      'SCH',
      comp(a.id, SANDBOX_PMS),
      comp(a.id, SANDBOX_AUTHORITY),
      '',
      '',
      '',
      comp(reason.code, esc(reason.display), 'LOCAL'),
      service,
      '',
      a.minutes,
      comp('min', 'minutes', 'ISO'),
      comp('', '', a.minutes, start, end),
      '',
      '',
      '',
      '',
      clerk,
      '',
      '',
      '',
      clerk,
      '',
      '',
      '',
      '',
      status,
    ),
    segment('TQ1', 1, '', '', '', '', '', start, end),
    pid(p, false),
    segment('PV1', 1, 'O', location(pr)),
    segment('RGS', 1, 'A'),
    segment('AIS', 1, 'A', service, start, '', '', a.minutes, 'min'),
    segment('AIL', 1, 'A', location(pr)),
    segment('AIP', 1, 'A', xcn(pr), comp(pr.role.code, pr.role.display)),
  ];
}

interface Order {
  placer: string;
  filler: string;
  collected: number;
}

interface Result {
  value: string;
  flag: string;
  range: string;
}

function rangeText(a: Analyte, p: SandboxPatient): { low?: number; high?: number; text: string } {
  const r = p.sex === 'F' && a.byFemale ? a.byFemale : { low: a.low, high: a.high };
  if (a.form === 'lt') return { high: r.high, text: `<${r.high}` };
  if (a.form === 'gt') return { low: r.low, text: `>${r.low}` };
  return { low: r.low, high: r.high, text: `${r.low}-${r.high}` };
}

/** One analyte's value, drawn around its usual value, with its flag (L, H or N) and range text. */
function redraw(a: Analyte, p: SandboxPatient, normal: (mean: number, sd: number) => number): Result {
  const r = rangeText(a, p);
  const mid = a.mean ?? ((r.low ?? 0) + (r.high ?? 0)) / 2;
  const sd = a.sd ?? ((r.high ?? mid) - (r.low ?? mid)) / 4;
  const floor = 10 ** -a.decimals;
  const n = Math.max(floor, normal(mid, sd));
  const value = n.toFixed(a.decimals);
  const v = Number(value);
  const flag = r.low !== undefined && v < r.low ? 'L' : r.high !== undefined && v > r.high ? 'H' : 'N';
  return { value, flag, range: r.text };
}

/** A value for each analyte of a panel, with its flag and the range it was judged by. */
function drawPanel(
  panel: LabPanel,
  p: SandboxPatient,
  normal: (mean: number, sd: number) => number,
): Result[] {
  return panel.analytes.map((a) => redraw(a, p, normal));
}

function oruMessage(
  p: SandboxPatient,
  pr: SandboxPractitioner,
  order: Order,
  panel: LabPanel,
  results: Result[],
  controlId: string,
  stamp: string,
  clock: ClinicClock,
  resultedAt: number,
  status: 'F' | 'C',
  changed: number,
): string[] {
  const collected = clock.stamp(order.collected);
  const lines = [
    msh(SANDBOX_LAB, 'SINEW-SANDBOX LAB', 'ORU^R01', 'ORU_R01', controlId, stamp),
    pid(p, false),
    segment('PV1', 1, 'O', comp('LAB', '', '', SANDBOX_AUTHORITY)),
    segment('ORC', 'RE', comp(order.placer, SANDBOX_PMS), comp(order.filler, SANDBOX_LAB), '', 'CM'),
    segment(
      'OBR',
      1,
      comp(order.placer, SANDBOX_PMS),
      comp(order.filler, SANDBOX_LAB),
      comp(panel.loinc, esc(panel.display), 'LN'),
      '',
      '',
      collected,
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      xcn(pr),
      '',
      '',
      '',
      '',
      '',
      clock.stamp(resultedAt),
      '',
      '',
      status,
    ),
  ];
  panel.analytes.forEach((a, i) => {
    const r = results[i] as Result;
    const obxStatus = status === 'C' && i === changed ? 'C' : 'F';
    lines.push(
      segment(
        'OBX',
        i + 1,
        'NM',
        comp(a.loinc, esc(a.display), 'LN'),
        '',
        r.value,
        comp(a.unit, a.unit, 'UCUM'),
        r.range,
        r.flag,
        '',
        '',
        obxStatus,
        '',
        '',
        collected,
      ),
    );
    if (obxStatus === 'C')
      lines.push(segment('NTE', 1, 'L', 'Corrected result: the specimen was analysed again.'));
  });
  return lines;
}

function dftMessage(
  p: SandboxPatient,
  pr: SandboxPractitioner,
  visitNumber: string,
  charges: Array<{ id: string; code: string; display: string; amount: number }>,
  diagnosis: { code: string; display: string },
  controlId: string,
  stamp: string,
  clock: ClinicClock,
  service: number,
): string[] {
  const lines = [
    msh(SANDBOX_PMS, SANDBOX_FACILITY, 'DFT^P03', 'DFT_P03', controlId, stamp),
    segment('EVN', 'P03', stamp),
    pid(p, true),
    segment(
      'PV1',
      1,
      'O',
      location(pr),
      '',
      '',
      '',
      xcn(pr),
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      comp(visitNumber, '', '', SANDBOX_AUTHORITY, 'VN'),
    ),
  ];
  charges.forEach((c, i) => {
    lines.push(
      segment(
        'FT1',
        i + 1,
        c.id,
        '',
        clock.date(service),
        stamp,
        'CG',
        comp(c.code, esc(c.display), 'C4'),
        '',
        '',
        1,
        `${c.amount.toFixed(2)}&USD`,
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        comp(diagnosis.code, esc(diagnosis.display), 'I10'),
        xcn(pr),
      ),
    );
  });
  return lines;
}
