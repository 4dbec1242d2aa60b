import type { IncomingMessage, ServerResponse } from 'node:http';
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

/** One notice or appointment the PMS accepted. */
export interface PmsRecord {
  /** Assigned by the PMS on receipt (`notice-1`, `appointment-3` …). */
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
  /** Patients `GET /api/patients` lists from the start. */
  patients?: JsonObject[];
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  bearerToken?: string;
  /** Largest request body accepted (default 1 MiB); larger gets 413. */
  maxBodyBytes?: number;
}

export interface PmsStandin {
  /** The API root, e.g. `http://127.0.0.1:41235` (routes are under `/api`). */
  readonly url: string;
  readonly port: number;
  /** Notices received (`POST /api/notices`), in order. */
  readonly notices: PmsRecord[];
  /** Appointments received (`POST /api/appointments`), in order. */
  readonly appointments: PmsRecord[];
  /** What `GET /api/patients` lists. */
  readonly patients: JsonObject[];
  /** Every request answered, in order (method, target, status; never bodies). */
  readonly requests: ReceivedRequest[];
  /** Replaces the patients `GET /api/patients` lists. */
  seedPatients(patients: JsonObject[]): void;
  /**
   * From now on, answer every request with this HTTP status and a JSON error body (or close
   * the connection: `'reset'`) instead of processing it, for `times` requests or until cleared
   * with `setFailure(undefined)`.
   */
  setFailure(failure: Failure | undefined, opts?: FailureOptions): void;
  /** Empties notices, appointments and the request list, clears any failure (patients stay). */
  reset(): void;
  stop(): Promise<void>;
}

const JSON_TYPE = 'application/json';

/**
 * Starts a stand-in practice-management system: a small JSON REST API kept in memory.
 *
 * | route | answer |
 * |---|---|
 * | `POST /api/notices` | 201 `{ id }` + Location; stores a "results ready" notice |
 * | `POST /api/appointments` | 201 `{ id }` + Location; stores an appointment |
 * | `GET /api/notices`, `GET /api/appointments` | 200, the stored records (`id`, `receivedAt`, `body` …) |
 * | `GET /api/notices/{id}`, `GET /api/appointments/{id}` | 200 one record, or 404 |
 * | `GET /api/patients` | 200, the seeded patients |
 *
 * A POST must be `application/json` (else 415) holding one JSON object (else 400). Errors are
 * `{ "error": code, "message": text }`.
 */
export async function startPms(options: PmsOptions = {}): Promise<PmsStandin> {
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const failures = new FailureSwitch();
  const requests: ReceivedRequest[] = [];
  const collections = { notices: [] as PmsRecord[], appointments: [] as PmsRecord[] };
  const patients: JsonObject[] = [...(options.patients ?? [])];
  const counters = { notices: 0, appointments: 0 };
  const singular = { notices: 'notice', appointments: 'appointment' } as const;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
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

    const path = new URL(req.url ?? '/', 'http://pms.invalid').pathname.replace(/\/+$/, '');
    const match = /^\/api\/(notices|appointments|patients)(?:\/([^/]+))?$/.exec(path);
    if (!match) return error(res, 404, 'not_found', 'no such route');
    const collection = match[1] as 'notices' | 'appointments' | 'patients';
    const id = match[2] === undefined ? undefined : decodeURIComponent(match[2]);

    if (collection === 'patients') {
      if (method !== 'GET' || id !== undefined) return notAllowed(res, id === undefined ? 'GET' : '');
      return sendJson(res, 200, patients, JSON_TYPE);
    }
    const stored = collections[collection];
    if (id !== undefined) {
      if (method !== 'GET') return notAllowed(res, 'GET');
      const record = stored.find((r) => r.id === id);
      return record
        ? sendJson(res, 200, record, JSON_TYPE)
        : error(res, 404, 'not_found', `no ${singular[collection]} ${id}`);
    }
    if (method === 'GET') return sendJson(res, 200, stored, JSON_TYPE);
    if (method !== 'POST') return notAllowed(res, 'GET, POST');

    const type = mediaType(req.headers['content-type']);
    if (type !== JSON_TYPE && !type?.endsWith('+json')) {
      return error(
        res,
        415,
        'unsupported_media_type',
        `Content-Type ${type ?? '(none)'} is not accepted; send ${JSON_TYPE}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return error(res, 400, 'invalid_json', 'request body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return error(res, 400, 'invalid_body', `a ${singular[collection]} must be one JSON object`);
    }
    counters[collection] += 1;
    const key = req.headers['idempotency-key'];
    const record: PmsRecord = {
      id: `${singular[collection]}-${counters[collection]}`,
      receivedAt: new Date().toISOString(),
      ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      body: parsed as JsonObject,
    };
    stored.push(record);
    sendJson(res, 201, { id: record.id }, JSON_TYPE, { location: `/api/${collection}/${record.id}` });
  };

  const listening = await listen(host, options.port ?? 0, handle);
  return {
    url: `http://${urlHost(host)}:${listening.port}`,
    port: listening.port,
    notices: collections.notices,
    appointments: collections.appointments,
    patients,
    requests,
    seedPatients: (list) => {
      patients.splice(0, patients.length, ...list);
    },
    setFailure: (failure, opts) => failures.set(failure, opts),
    reset: () => {
      collections.notices.length = 0;
      collections.appointments.length = 0;
      requests.length = 0;
      failures.set(undefined);
    },
    stop: listening.stop,
  };
}

function error(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { error: code, message }, JSON_TYPE, headers);
}

function notAllowed(res: ServerResponse, allow: string): void {
  error(res, 405, 'method_not_allowed', 'method not allowed on this route', allow ? { allow } : {});
}
