import { buildAck, Hl7Message } from '@sinew/hl7v2';
import { MllpServer } from '@sinew/mllp';
import type { JsonObject } from './pms';
import { ConflictError } from './pms-db';
import { FieldError, type Appointment, type Patient } from './pms-records';

/** One message the PMS received over MLLP, and what it answered (never its content). */
export interface InboundEntry {
  /** `SIU^S12`, `ADT^A28` … */
  messageType: string;
  controlId: string;
  /** `AA` when applied, `AE` when refused, `AR` when not read. */
  ack: 'AA' | 'AE' | 'AR';
  /** Why it was refused. */
  error?: string;
}

/** What the listener does to the PMS's records: the same writes as its REST API (and the same notifications). */
export interface PmsDiary {
  patientByMrn(mrn: string): Patient | undefined;
  appointmentByNumber(appointmentId: string): Appointment | undefined;
  write(
    entity: 'patients' | 'appointments',
    method: 'POST' | 'PUT',
    id: number | undefined,
    body: JsonObject,
  ): void;
}

/** Refused: answered AE with this text (which names fields, never values). */
class Refusal extends Error {}

/** HL7 DTM with minutes and an offset (`202604010930[00]+0200`) as ISO 8601 with the same offset. */
function instant(dtm: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.\d+)?([+-]\d{2})(\d{2})$/.exec(dtm);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, oh, om] = m;
  return `${y}-${mo}-${d}T${h}:${mi}:${s ?? '00'}${oh}:${om}`;
}

function minutesBetween(start: string, end: string): number | undefined {
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms / 60_000) : undefined;
}

/** The appointment fields an SIU message carries (SCH, TQ1, AIL, AIP). */
function appointmentFields(msg: Hl7Message): JsonObject {
  const startDtm = msg.get('TQ1-7') || msg.get('SCH-11.4');
  const start = startDtm ? instant(startDtm) : undefined;
  if (startDtm && !start) throw new Refusal('the start time (TQ1-7) needs minutes and a time zone');
  const end = msg.get('TQ1-8') ? instant(msg.get('TQ1-8')) : undefined;
  const minutes =
    Number(msg.get('TQ1-6.1') || msg.get('SCH-9')) || (start && end ? minutesBetween(start, end) : undefined);
  const location = msg.get('AIL-3.9') || msg.get('AIL-3.1');
  const practitioner = msg.get('AIP-3.2') || msg.get('AIP-3.1');
  return {
    ...(start ? { start } : {}),
    ...(minutes ? { duration_min: minutes } : {}),
    ...(location ? { location } : {}),
    ...(practitioner ? { practitioner } : {}),
  };
}

const SEX: Record<string, string> = { F: 'F', M: 'M', O: 'O', U: 'U' };

function patientFields(msg: Hl7Message): JsonObject {
  const dob = /^(\d{4})(\d{2})(\d{2})/.exec(msg.get('PID-7'));
  return {
    family: msg.get('PID-5.1'),
    given: msg.get('PID-5.2'),
    ...(dob ? { birth_date: `${dob[1]}-${dob[2]}-${dob[3]}` } : {}),
    sex: SEX[msg.get('PID-8')] ?? 'U',
  };
}

/** Applies one SIU^S12/S14/S15 or ADT^A28/A31 to the diary; throws `Refusal` when it cannot. */
function apply(msg: Hl7Message, diary: PmsDiary): void {
  const type = `${msg.get('MSH-9.1')}^${msg.get('MSH-9.2')}`;
  const mrn = msg.get('PID-3.1');
  if (type === 'SIU^S12' || type === 'SIU^S14' || type === 'SIU^S15') {
    const number = msg.get('SCH-1.1') || msg.get('SCH-2.1');
    if (!number) throw new Refusal('the appointment has no placer or filler id (SCH-1, SCH-2)');
    const existing = diary.appointmentByNumber(number);
    if (type === 'SIU^S12') {
      if (existing) throw new Refusal('the appointment id (SCH-1) is booked already');
      if (!mrn) throw new Refusal('the patient has no identifier (PID-3)');
      if (!diary.patientByMrn(mrn)) throw new Refusal('the patient (PID-3) is not registered in the PMS');
      const fields = appointmentFields(msg);
      if (!fields.start) throw new Refusal('the appointment has no start time (TQ1-7)');
      diary.write('appointments', 'POST', undefined, {
        appointment_id: number,
        mrn,
        status: 'booked',
        ...fields,
      });
      return;
    }
    if (!existing) throw new Refusal('no appointment with this id (SCH-1) in the PMS');
    if (type === 'SIU^S15') {
      diary.write('appointments', 'PUT', existing.id, { status: 'cancelled' });
      return;
    }
    diary.write('appointments', 'PUT', existing.id, appointmentFields(msg));
    return;
  }
  if (type === 'ADT^A28' || type === 'ADT^A31') {
    if (!mrn) throw new Refusal('the patient has no identifier (PID-3)');
    const existing = diary.patientByMrn(mrn);
    if (type === 'ADT^A28') {
      if (existing) throw new Refusal('a patient with this identifier (PID-3) is registered already');
      diary.write('patients', 'POST', undefined, { mrn, ...patientFields(msg) });
      return;
    }
    if (!existing) throw new Refusal('the patient (PID-3) is not registered in the PMS');
    diary.write('patients', 'PUT', existing.id, patientFields(msg));
    return;
  }
  throw new Refusal(`the PMS takes SIU^S12, S14, S15 and ADT^A28, A31, not ${type}`);
}

/**
 * The PMS's MLLP listener for what Sinew sends it (writes apps make through the FHIR API):
 * SIU^S12 books an appointment, S14 changes it, S15 cancels it; ADT^A28 registers a patient and
 * A31 updates one. Each is answered AA once applied (through the same writes as the REST API,
 * so the PMS announces the change as it does any other), or AE with the reason.
 */
export class PmsInbound {
  readonly received: InboundEntry[] = [];
  private readonly server: MllpServer;

  constructor(diary: PmsDiary, options: { host?: string; port?: number } = {}) {
    this.server = new MllpServer({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 }, (bytes) => {
      let msg: Hl7Message;
      try {
        msg = Hl7Message.parse(bytes);
      } catch {
        this.received.push({ messageType: '', controlId: '', ack: 'AR', error: 'not an HL7 v2 message' });
        return undefined;
      }
      const entry: InboundEntry = {
        messageType: `${msg.get('MSH-9.1')}^${msg.get('MSH-9.2')}`,
        controlId: msg.get('MSH-10'),
        ack: 'AA',
      };
      this.received.push(entry);
      try {
        apply(msg, diary);
        return buildAck(msg, { code: 'AA', text: 'applied' });
      } catch (err) {
        if (!(err instanceof Refusal) && !(err instanceof FieldError) && !(err instanceof ConflictError))
          throw err;
        entry.ack = 'AE';
        entry.error = err.message;
        return buildAck(msg, { code: 'AE', text: err.message, error: { code: '207', text: err.message } });
      }
    });
  }

  start(): Promise<void> {
    return this.server.start();
  }

  get port(): number {
    return this.server.port;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}
