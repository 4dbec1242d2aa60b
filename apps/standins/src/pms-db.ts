import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  COLUMNS,
  FieldError,
  type Appointment,
  type AppointmentInput,
  type Charge,
  type ChargeInput,
  type EntityName,
  type Patient,
  type PatientInput,
  type RecordOf,
} from './pms-records';

/**
 * The PMS stand-in's own database: three tables with plain columns that any SQL client can read
 * (a `sql` reconciliation reads them). MRNs, appointment numbers and charge numbers are indexed
 * but not declared unique, so a duplicate can be planted by hand; the REST API refuses them.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS patients (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mrn TEXT NOT NULL,
  family TEXT NOT NULL,
  given TEXT NOT NULL,
  birth_date TEXT NOT NULL,
  sex TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS patients_mrn ON patients (mrn);
CREATE INDEX IF NOT EXISTS patients_updated_at ON patients (updated_at);
CREATE TABLE IF NOT EXISTS appointments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  appointment_id TEXT NOT NULL,
  mrn TEXT NOT NULL,
  start TEXT NOT NULL,
  duration_min INTEGER NOT NULL,
  status TEXT NOT NULL,
  practitioner TEXT,
  location TEXT,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS appointments_appointment_id ON appointments (appointment_id);
CREATE INDEX IF NOT EXISTS appointments_updated_at ON appointments (updated_at);
CREATE TABLE IF NOT EXISTS charges (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  charge_number TEXT NOT NULL,
  mrn TEXT NOT NULL,
  code TEXT NOT NULL,
  description TEXT,
  amount REAL NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL,
  service_date TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_charge_number ON charges (charge_number);
CREATE INDEX IF NOT EXISTS charges_updated_at ON charges (updated_at);
`;

/** The column naming a record to people (and unique through the REST API). */
const NUMBER_COLUMN: Record<EntityName, string> = {
  patients: 'mrn',
  appointments: 'appointment_id',
  charges: 'charge_number',
};
/** Prefix of generated appointment and charge numbers. */
const NUMBER_PREFIX: Partial<Record<EntityName, string>> = { appointments: 'APT-', charges: 'CHG-' };

export interface ListQuery {
  page: number;
  perPage: number;
  /** ISO instant: only records changed at or after it. */
  updatedSince?: string;
  /** ISO instant: only records changed before it. */
  updatedBefore?: string;
}

export class PmsDatabase {
  readonly db: Database.Database;

  /** Opens (or creates) the database: a file, or `:memory:`. */
  constructor(readonly file: string = ':memory:') {
    if (file !== ':memory:' && file !== '') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    if (file !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.exec(SCHEMA);
  }

  get<E extends EntityName>(entity: E, id: number): RecordOf<E> | undefined {
    return this.db.prepare(`SELECT * FROM ${entity} WHERE id = ?`).get(id) as RecordOf<E> | undefined;
  }

  /** The (first) patient with this MRN. */
  patientByMrn(mrn: string): Patient | undefined {
    return this.db.prepare('SELECT * FROM patients WHERE mrn = ? ORDER BY id LIMIT 1').get(mrn) as
      Patient | undefined;
  }

  list<E extends EntityName>(entity: E, query: ListQuery): { items: RecordOf<E>[]; total: number } {
    const where: string[] = [];
    const params: string[] = [];
    if (query.updatedSince) {
      where.push('updated_at >= ?');
      params.push(query.updatedSince);
    }
    if (query.updatedBefore) {
      where.push('updated_at < ?');
      params.push(query.updatedBefore);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (
      this.db.prepare(`SELECT count(*) AS n FROM ${entity} ${clause}`).get(...params) as { n: number }
    ).n;
    const items = this.db
      .prepare(`SELECT * FROM ${entity} ${clause} ORDER BY id LIMIT ? OFFSET ?`)
      .all(...params, query.perPage, (query.page - 1) * query.perPage) as RecordOf<E>[];
    return { items, total };
  }

  /** Every record, in id order, without loading them all at once. */
  iterate<E extends EntityName>(entity: E): IterableIterator<RecordOf<E>> {
    return this.db.prepare(`SELECT * FROM ${entity} ORDER BY id`).iterate() as IterableIterator<RecordOf<E>>;
  }

  createPatient(input: PatientInput, now: string): Patient {
    return this.insert('patients', input, now);
  }

  createAppointment(input: AppointmentInput, now: string): Appointment {
    this.requirePatient(input.mrn);
    return this.insert('appointments', input, now);
  }

  createCharge(input: ChargeInput, now: string): Charge {
    this.requirePatient(input.mrn);
    return this.insert('charges', input, now);
  }

  /** Changes the given fields; undefined when there is no such record. */
  update<E extends EntityName>(
    entity: E,
    id: number,
    input: PatientInput | AppointmentInput | ChargeInput,
    now: string,
  ): RecordOf<E> | undefined {
    const before = this.get(entity, id);
    if (!before) return undefined;
    if (entity !== 'patients' && 'mrn' in input) this.requirePatient(input.mrn);
    const number = NUMBER_COLUMN[entity];
    const value = (input as Record<string, unknown>)[number];
    if (typeof value === 'string' && value !== (before as unknown as Record<string, unknown>)[number]) {
      this.refuseTaken(entity, value);
    }
    const entries = Object.entries(input).filter(([k]) => (COLUMNS[entity] as readonly string[]).includes(k));
    const sets = [...entries.map(([k]) => `${k} = ?`), 'updated_at = ?'];
    this.db
      .prepare(`UPDATE ${entity} SET ${sets.join(', ')} WHERE id = ?`)
      .run(...entries.map(([, v]) => v as string | number | null), now, id);
    return this.get(entity, id);
  }

  /** Forgets every record. */
  clear(): void {
    this.db.exec('DELETE FROM patients; DELETE FROM appointments; DELETE FROM charges;');
  }

  close(): void {
    this.db.close();
  }

  private requirePatient(mrn: string | undefined): void {
    if (mrn !== undefined && !this.patientByMrn(mrn))
      throw new FieldError('mrn', 'mrn names no patient of the PMS');
  }

  private refuseTaken(entity: EntityName, value: string): void {
    const column = NUMBER_COLUMN[entity];
    if (this.db.prepare(`SELECT 1 FROM ${entity} WHERE ${column} = ?`).get(value)) {
      throw new ConflictError(column, `${column} ${value} is already taken`);
    }
  }

  private insert<E extends EntityName>(entity: E, input: object, now: string): RecordOf<E> {
    return this.db.transaction(() => {
      const column = NUMBER_COLUMN[entity];
      const given = (input as Record<string, unknown>)[column];
      if (typeof given === 'string') this.refuseTaken(entity, given);
      const prefix = NUMBER_PREFIX[entity];
      const row: Record<string, unknown> = { ...input, updated_at: now };
      // A generated number is made from the row id, known once the row is in.
      if (given === undefined && prefix) row[column] = '';
      const names = Object.keys(row);
      const info = this.db
        .prepare(`INSERT INTO ${entity} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`)
        .run(...names.map((n) => row[n] as string | number | null));
      const id = Number(info.lastInsertRowid);
      if (given === undefined && prefix) {
        this.db
          .prepare(`UPDATE ${entity} SET ${column} = ? WHERE id = ?`)
          .run(`${prefix}${String(id).padStart(6, '0')}`, id);
      }
      return this.get(entity, id) as RecordOf<E>;
    })();
  }
}

/** A write refused because a number is taken: answered 409. */
export class ConflictError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
