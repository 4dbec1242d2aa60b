import type { IncomingMessage, ServerResponse } from 'node:http';
import { csvLines, exportCsv } from './pms-csv';
import { ConflictError, PmsDatabase } from './pms-db';
import { adtMessage, dftMessage, siuMessage, type SiuEvent } from './pms-hl7';
import { PmsInbound, type InboundEntry } from './pms-inbound';
import { PmsOutbox, type OutboxEntry, type OutboxOptions, type PmsNotifyTargets } from './pms-outbox';
import {
  appointmentInput,
  chargeInput,
  FieldError,
  isDate,
  patientInput,
  type Appointment,
  type Charge,
  type EntityName,
  type Patient,
} from './pms-records';
import {
  BodyTooLargeError,
  bearerMatches,
  FailureSwitch,
  listen,
  mediaType,
  readBody,
  sendJson,
  trackRequest,
  urlHost,
  type Failure,
  type FailureOptions,
  type ReceivedRequest,
} from './http';

/** A JSON object as received. */
export type JsonObject = { [key: string]: unknown };

/** One notice the PMS accepted. */
export interface PmsRecord {
  /** Assigned by the PMS on receipt (`notice-1` …). */
  id: string;
  /** When it was received (ISO 8601). */
  receivedAt: string;
  /** The `Idempotency-Key` header it came with, if any. */
  idempotencyKey?: string;
  /** The JSON object posted, unchanged. */
  body: JsonObject;
}

export interface PmsOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** The SQLite database file holding patients, appointments and charges (default: in memory). */
  dbFile?: string;
  /** Folder `POST /api/export` writes the CSV files to (without it, that route answers 409). */
  exportDir?: string;
  /** Where changes are sent over MLLP: ADT, SIU and DFT listeners (a kind without one is not sent). */
  notify?: PmsNotifyTargets;
  /** Retries and ACK wait of those sends. */
  outbox?: OutboxOptions;
  /** Patients stored at start (unless their MRN is already there), without sending anything. */
  patients?: JsonObject[];
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  bearerToken?: string;
  /** Largest request body accepted (default 1 MiB); larger gets 413. */
  maxBodyBytes?: number;
  /**
   * Listen for HL7 v2 over MLLP too (SIU^S12/S14/S15, ADT^A28/A31 from Sinew), applying each
   * to the records as the REST API would; port 0 picks a free one. Without it, no listener.
   */
  inbound?: { port?: number };
}

export interface PmsStandin {
  /** The API root, e.g. `http://127.0.0.1:41235` (routes are under `/api`). */
  readonly url: string;
  readonly port: number;
  /** Notices received (`POST /api/notices`), in order. */
  readonly notices: PmsRecord[];
  /** The PMS's own database (patients, appointments, charges). */
  readonly database: PmsDatabase;
  /** Every notification sent or being sent, oldest first (what `GET /api/outbox` lists). */
  readonly outbox: readonly OutboxEntry[];
  /** Every request answered, in order (method, target, status; never bodies). */
  readonly requests: ReceivedRequest[];
  /** The MLLP listener for what Sinew sends the PMS (with the `inbound` option): its port and what it received. */
  readonly inbound?: { readonly port: number; readonly received: InboundEntry[] };
  /** Resolves once every notification queued so far has its ACK (or has given up). */
  notified(): Promise<void>;
  /**
   * From now on, answer every request with this HTTP status and a JSON error body (or close
   * the connection: `'reset'`) instead of processing it, for `times` requests or until cleared
   * with `setFailure(undefined)`.
   */
  setFailure(failure: Failure | undefined, opts?: FailureOptions): void;
  /** Forgets notices, records, the outbox and the request list, and clears any failure. */
  reset(): void;
  stop(): Promise<void>;
}

const JSON_TYPE = 'application/json';
const PER_PAGE_DEFAULT = 50;
const PER_PAGE_MAX = 500;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const SINGULAR: Record<EntityName, string> = {
  patients: 'patient',
  appointments: 'appointment',
  charges: 'charge',
};

/**
 * Starts a stand-in practice-management system: a JSON REST API over its own SQLite database
 * that tells Sinew about every change over MLLP, as a PMS does (apps/standins/README.md).
 *
 * | route | answer |
 * |---|---|
 * | `POST /api/patients`, `/api/appointments`, `/api/charges` | 201, the stored record with its `id` |
 * | `PUT /api/{entity}/{id}` | 200, the record after a full or partial update |
 * | `DELETE /api/appointments/{id}`, `/api/charges/{id}` | 200, the record, cancelled |
 * | `GET /api/{entity}?page=&per_page=&updated_since=&updated_before=` | 200 `{ items, page, per_page, total, next }` |
 * | `GET /api/{entity}/{id}` | 200 one record, or 404 |
 * | `GET /api/outbox` | 200 `{ items }`: the notifications and their ACKs |
 * | `GET /api/export/{entity}.csv` | 200 `text/csv` |
 * | `POST /api/export[?date=YYYY-MM-DD]` | 201 `{ date, files }`: the CSV files written to `exportDir` |
 * | `POST /api/notices`, `GET /api/notices[/{id}]` | a "results ready" notice (201 `{ id }`), the notices |
 *
 * Writes take `?notify=false` to change the record without sending anything. A POST or PUT
 * must be `application/json` (else 415) holding one JSON object (else 400). Errors are
 * `{ "error": code, "message": text }`, with `field` naming the bad field on a 400.
 */
export async function startPms(options: PmsOptions = {}): Promise<PmsStandin> {
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const failures = new FailureSwitch();
  const requests: ReceivedRequest[] = [];
  const notices: PmsRecord[] = [];
  let noticeCount = 0;
  const database = new PmsDatabase(options.dbFile ?? ':memory:');
  const outbox = new PmsOutbox(options.notify ?? {}, options.outbox);
  const now = (): string => new Date().toISOString();

  try {
    for (const seed of options.patients ?? []) {
      const input = patientInput(seed, false);
      if (!database.patientByMrn(input.mrn as string)) database.createPatient(input, now());
    }
  } catch (err) {
    database.close();
    if (err instanceof FieldError) throw new Error(`a seeded patient is not valid: ${err.message}`);
    throw err;
  }

  const patientFor = (mrn: string): Patient =>
    database.patientByMrn(mrn) ?? {
      id: 0,
      mrn,
      family: '',
      given: '',
      birth_date: '',
      sex: 'U',
      updated_at: '',
    };

  const notifyPatient = (event: 'A04' | 'A08', p: Patient): void => {
    const controlId = outbox.nextControlId();
    outbox.enqueue(
      'adt',
      { kind: 'patient', messageType: `ADT^${event}`, recordId: p.id, controlId },
      adtMessage(event, p, { controlId, now: new Date() }),
    );
  };
  const notifyAppointment = (event: SiuEvent, a: Appointment): void => {
    const controlId = outbox.nextControlId();
    outbox.enqueue(
      'siu',
      { kind: 'appointment', messageType: `SIU^${event}`, recordId: a.id, controlId },
      siuMessage(event, a, patientFor(a.mrn), { controlId, now: new Date() }),
    );
  };
  const notifyCharge = (c: Charge): void => {
    const controlId = outbox.nextControlId();
    outbox.enqueue(
      'dft',
      { kind: 'charge', messageType: 'DFT^P03', recordId: c.id, controlId },
      dftMessage(c, patientFor(c.mrn), { controlId, now: new Date() }),
    );
  };

  const write = (
    entity: EntityName,
    method: string,
    id: number | undefined,
    body: JsonObject | undefined,
    notify: boolean,
  ): { status: number; record: Patient | Appointment | Charge } => {
    const today = now().slice(0, 10);
    if (method === 'POST') {
      const b = body as JsonObject;
      if (entity === 'patients') {
        const p = database.createPatient(patientInput(b, false), now());
        if (notify) notifyPatient('A04', p);
        return { status: 201, record: p };
      }
      if (entity === 'appointments') {
        const a = database.createAppointment(appointmentInput(b, false), now());
        if (notify) notifyAppointment(a.status === 'cancelled' ? 'S15' : 'S12', a);
        return { status: 201, record: a };
      }
      const c = database.createCharge(chargeInput(b, false, today), now());
      if (notify) notifyCharge(c);
      return { status: 201, record: c };
    }
    const before = database.get(entity, id as number);
    if (!before) throw new HttpError(404, 'not_found', `no ${SINGULAR[entity]} ${id}`);
    if (method === 'DELETE') {
      // Deleting an appointment or a charge cancels it: the PMS keeps the record.
      const after = database.update(entity, id as number, { status: 'cancelled' }, now()) as
        Appointment | Charge;
      if (notify) {
        if (entity === 'appointments') notifyAppointment('S15', after as Appointment);
        else notifyCharge(after as Charge);
      }
      return { status: 200, record: after };
    }
    const b = body as JsonObject;
    const input =
      entity === 'patients'
        ? patientInput(b, true)
        : entity === 'appointments'
          ? appointmentInput(b, true)
          : chargeInput(b, true, today);
    const after = database.update(entity, id as number, input, now()) as Patient | Appointment | Charge;
    if (notify) {
      if (entity === 'patients') notifyPatient('A08', after as Patient);
      else if (entity === 'appointments') {
        const a = after as Appointment;
        const cancelled = a.status === 'cancelled' && (before as Appointment).status !== 'cancelled';
        notifyAppointment(cancelled ? 'S15' : 'S14', a);
      } else notifyCharge(after as Charge);
    }
    return { status: 200, record: after };
  };

  const route = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://pms.invalid');
    const path = url.pathname.replace(/\/+$/, '');

    if (path === '/api/outbox') {
      if (method !== 'GET') return notAllowed(res, 'GET');
      return sendJson(res, 200, { items: outbox.entries }, JSON_TYPE);
    }
    const csv = /^\/api\/export\/(patients|appointments|charges)\.csv$/.exec(path);
    if (csv) {
      if (method !== 'GET') return notAllowed(res, 'GET');
      res.writeHead(200, {
        'content-type': 'text/csv; charset=utf-8; header=present',
        'content-disposition': `attachment; filename="${csv[1]}.csv"`,
      });
      for (const line of csvLines(database, csv[1] as EntityName)) res.write(line);
      res.end();
      return;
    }
    if (path === '/api/export') {
      if (method !== 'POST') return notAllowed(res, 'POST');
      if (!options.exportDir)
        throw new HttpError(409, 'no_export_dir', 'the PMS has no export folder configured');
      const date = url.searchParams.get('date') || now().slice(0, 10);
      if (!isDate(date)) throw new HttpError(400, 'invalid_query', 'date must be a date YYYY-MM-DD', 'date');
      return sendJson(res, 201, { date, files: exportCsv(database, options.exportDir, date) }, JSON_TYPE);
    }

    const match = /^\/api\/(notices|patients|appointments|charges)(?:\/([^/]+))?$/.exec(path);
    if (!match) throw new HttpError(404, 'not_found', 'no such route');
    const collection = match[1] as 'notices' | EntityName;
    const rawId = match[2] === undefined ? undefined : decodeURIComponent(match[2]);

    if (collection === 'notices') return noticesRoute(req, res, method, rawId, body);

    const entity = collection;
    if (rawId === undefined) {
      if (method === 'GET') return sendJson(res, 200, listPage(req, url, entity), JSON_TYPE);
      if (method !== 'POST') return notAllowed(res, 'GET, POST');
    } else {
      const allowed = entity === 'patients' ? ['GET', 'PUT'] : ['GET', 'PUT', 'DELETE'];
      if (!allowed.includes(method)) return notAllowed(res, allowed.join(', '));
    }
    const id = rawId === undefined ? undefined : /^[1-9]\d{0,15}$/.test(rawId) ? Number(rawId) : -1;
    if (id === -1) throw new HttpError(404, 'not_found', `no ${SINGULAR[entity]} ${rawId}`);
    if (method === 'GET') {
      const record = database.get(entity, id as number);
      if (!record) throw new HttpError(404, 'not_found', `no ${SINGULAR[entity]} ${id}`);
      return sendJson(res, 200, record, JSON_TYPE);
    }
    const notifyParam = url.searchParams.get('notify');
    const notify = !(notifyParam === 'false' || notifyParam === '0');
    const json = method === 'DELETE' ? undefined : jsonObject(req, body, SINGULAR[entity]);
    const { status, record } = write(entity, method, id, json, notify);
    sendJson(
      res,
      status,
      record,
      JSON_TYPE,
      status === 201 ? { location: `/api/${entity}/${record.id}` } : {},
    );
  };

  const listPage = (req: IncomingMessage, url: URL, entity: EntityName): JsonObject => {
    const page = positive(url, 'page', 1, Number.MAX_SAFE_INTEGER);
    const perPage = positive(url, 'per_page', PER_PAGE_DEFAULT, PER_PAGE_MAX);
    const updatedSince = instantParam(url, 'updated_since');
    const updatedBefore = instantParam(url, 'updated_before');
    const { items, total } = database.list(entity, { page, perPage, updatedSince, updatedBefore });
    let next: string | null = null;
    if (page * perPage < total) {
      const base = req.headers.host ? `http://${req.headers.host}` : listening.url;
      const nextUrl = new URL(`/api/${entity}`, base);
      nextUrl.searchParams.set('page', String(page + 1));
      nextUrl.searchParams.set('per_page', String(perPage));
      if (updatedSince) nextUrl.searchParams.set('updated_since', updatedSince);
      if (updatedBefore) nextUrl.searchParams.set('updated_before', updatedBefore);
      next = nextUrl.toString();
    }
    return { items, page, per_page: perPage, total, next };
  };

  const noticesRoute = (
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    id: string | undefined,
    body: Buffer,
  ): void => {
    if (id !== undefined) {
      if (method !== 'GET') return notAllowed(res, 'GET');
      const record = notices.find((r) => r.id === id);
      if (!record) throw new HttpError(404, 'not_found', `no notice ${id}`);
      return sendJson(res, 200, record, JSON_TYPE);
    }
    if (method === 'GET') return sendJson(res, 200, notices, JSON_TYPE);
    if (method !== 'POST') return notAllowed(res, 'GET, POST');
    const parsed = jsonObject(req, body, 'notice');
    noticeCount += 1;
    const key = req.headers['idempotency-key'];
    const record: PmsRecord = {
      id: `notice-${noticeCount}`,
      receivedAt: now(),
      ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      body: parsed,
    };
    notices.push(record);
    sendJson(res, 201, { id: record.id }, JSON_TYPE, { location: `/api/notices/${record.id}` });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    trackRequest(req, res, requests);
    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        return error(res, 413, 'too_large', `request body larger than ${err.limitBytes} bytes`);
      }
      res.destroy();
      return;
    }

    const failure = failures.take();
    if (failure) {
      if (failure.failure === 'reset') {
        req.socket.destroy();
        return;
      }
      const headers: Record<string, string> =
        failure.retryAfterS !== undefined ? { 'retry-after': String(failure.retryAfterS) } : {};
      return error(
        res,
        failure.failure,
        'injected',
        `failure injected by the PMS stand-in (HTTP ${failure.failure})`,
        headers,
      );
    }
    if (options.bearerToken !== undefined && !bearerMatches(req, options.bearerToken)) {
      return error(res, 401, 'unauthorized', 'missing or wrong bearer token', {
        'www-authenticate': 'Bearer',
      });
    }
    try {
      await route(req, res, body);
    } catch (err) {
      if (err instanceof HttpError) {
        return error(res, err.status, err.code, err.message, err.headers, err.field);
      }
      if (err instanceof FieldError) return error(res, 400, 'invalid_field', err.message, {}, err.field);
      if (err instanceof ConflictError) return error(res, 409, 'conflict', err.message, {}, err.field);
      throw err;
    }
  };

  let listening: { url: string; port: number; stop(): Promise<void> };
  let inbound: PmsInbound | undefined;
  try {
    if (options.inbound) {
      inbound = new PmsInbound(
        {
          patientByMrn: (mrn) => database.patientByMrn(mrn),
          appointmentByNumber: (number) =>
            database.db
              .prepare('SELECT * FROM appointments WHERE appointment_id = ? ORDER BY id LIMIT 1')
              .get(number) as Appointment | undefined,
          write: (entity, method, id, body) => void write(entity, method, id, body, true),
        },
        { host, port: options.inbound.port ?? 0 },
      );
      await inbound.start();
    }
    const l = await listen(host, options.port ?? 0, handle);
    listening = { url: `http://${urlHost(host)}:${l.port}`, port: l.port, stop: l.stop };
  } catch (err) {
    await inbound?.stop();
    database.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    url: listening.url,
    port: listening.port,
    notices,
    database,
    outbox: outbox.entries,
    requests,
    ...(inbound ? { inbound } : {}),
    notified: () => outbox.idle(),
    setFailure: (failure, opts) => failures.set(failure, opts),
    reset: () => {
      notices.length = 0;
      requests.length = 0;
      if (inbound) inbound.received.length = 0;
      outbox.clear();
      database.clear();
      failures.set(undefined);
    },
    stop: () => {
      stopping ??= (async () => {
        await listening.stop();
        await inbound?.stop();
        await outbox.close();
        database.close();
      })();
      return stopping;
    },
  };
}

/** The body as one JSON object, or an HttpError (415 not JSON, 400 not one object). */
function jsonObject(req: IncomingMessage, body: Buffer, what: string): JsonObject {
  const type = mediaType(req.headers['content-type']);
  if (type !== JSON_TYPE && !type?.endsWith('+json')) {
    throw new HttpError(
      415,
      'unsupported_media_type',
      `Content-Type ${type ?? '(none)'} is not accepted; send ${JSON_TYPE}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, 'invalid_body', `a ${what} must be one JSON object`);
  }
  return parsed as JsonObject;
}

function positive(url: URL, name: string, fallback: number, max: number): number {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d{1,16}$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new HttpError(400, 'invalid_query', `${name} must be a whole number 1-${max}`, name);
  }
  return Number(text);
}

/** An instant query parameter as ISO 8601 UTC (the form `updated_at` is stored in); empty: none. */
function instantParam(url: URL, name: string): string | undefined {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms))
    throw new HttpError(400, 'invalid_query', `${name} must be an ISO 8601 date or date-time`, name);
  return new Date(ms).toISOString();
}

function error(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  field?: string,
): void {
  sendJson(res, status, { error: code, message, ...(field ? { field } : {}) }, JSON_TYPE, headers);
}

function notAllowed(res: ServerResponse, allow: string): void {
  error(res, 405, 'method_not_allowed', 'method not allowed on this route', allow ? { allow } : {});
}
