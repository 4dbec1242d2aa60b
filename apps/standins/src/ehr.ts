import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  badRequest,
  getSearchParameter,
  getStatus,
  isOk,
  isResourceType,
  normalizeOperationOutcome,
  OperationOutcomeError,
} from '@medplum/core';
import { FhirRouter, type FhirRequest, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, CapabilityStatement, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { EhrRepository } from './ehr-repository';
import {
  BodyTooLargeError,
  bearerMatches,
  FailureSwitch,
  trackRequest,
  listen,
  mediaType,
  readBody,
  sendJson,
  urlHost,
  type Failure,
  type FailureOptions,
  type ReceivedRequest,
} from './http';
import { emptyTransactionResponse, prepareLargeTransaction } from './large-transaction';
import { HttpOutcomeError, outcome } from './outcome';

export interface EhrOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Path of the FHIR base (default `/fhir`). */
  basePath?: string;
  /** Refuse resources that are not valid FHIR R4 with 400 + OperationOutcome (default true). */
  validate?: boolean;
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  bearerToken?: string;
  /** Largest request body accepted (default 32 MiB); larger gets 413. */
  maxBodyBytes?: number;
}

export interface EhrStandin {
  /** The FHIR base URL, e.g. `http://127.0.0.1:41234/fhir`. */
  readonly url: string;
  readonly port: number;
  /** What the server holds, for assertions. */
  readonly repo: EhrRepository;
  /** Every request answered, in order (method, target, status; never bodies). */
  readonly requests: ReceivedRequest[];
  /**
   * From now on, answer every request with this HTTP status and an OperationOutcome (or close
   * the connection: `'reset'`) instead of processing it, for `times` requests or until cleared
   * with `setFailure(undefined)`.
   */
  setFailure(failure: Failure | undefined, opts?: FailureOptions): void;
  /** Empties the repository and the request list and clears any failure. */
  reset(): void;
  stop(): Promise<void>;
}

const FHIR_JSON = 'application/fhir+json';
const JSON_BODY_TYPES = new Set([FHIR_JSON, 'application/json', 'application/json+fhir']);
const PATCH_BODY_TYPES = new Set(['application/json-patch+json', ...JSON_BODY_TYPES]);
const FORM = 'application/x-www-form-urlencoded';
const METHODS = new Set<string>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** Search parameters every resource type has, beyond those of its own definition. */
const COMMON_SEARCH = new Set([
  '_id',
  '_lastUpdated',
  '_count',
  '_offset',
  '_sort',
  '_summary',
  '_total',
  '_elements',
  '_format',
  '_pretty',
  '_include',
  '_revinclude',
  '_profile',
  '_tag',
  '_security',
  '_source',
]);

/**
 * Starts a stand-in EHR: a FHIR R4 server made of @medplum/fhir-router's `FhirRouter` over an
 * in-memory repository, behind node:http. Create, read, vread, update (also conditional),
 * patch, delete, history, type search (`_count`, `_offset`, `_summary=count`, `_sort`) and
 * transaction/batch Bundles posted to the base URL; answers are `application/fhir+json`, with
 * an OperationOutcome and the matching status on errors.
 */
export async function startEhr(options: EhrOptions = {}): Promise<EhrStandin> {
  const host = options.host ?? '127.0.0.1';
  const basePath = normalizeBasePath(options.basePath ?? '/fhir');
  const maxBodyBytes = options.maxBodyBytes ?? 32 * 1024 * 1024;
  const repo = new EhrRepository({ validate: options.validate ?? true });
  const router = new FhirRouter();
  const failures = new FailureSwitch();
  const requests: ReceivedRequest[] = [];
  const serialize = serializer();
  let baseUrl = '';

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    trackRequest(req, res, requests);

    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        return reply(res, 413, outcome('too-costly', `Request body larger than ${err.limitBytes} bytes`));
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
      return reply(res, failure.failure, injectedOutcome(failure.failure), headers);
    }
    if (options.bearerToken !== undefined && !bearerMatches(req, options.bearerToken)) {
      return reply(res, 401, outcome('login', 'Missing or wrong bearer token'), {
        'www-authenticate': 'Bearer',
      });
    }

    const url = new URL(target, 'http://ehr.invalid');
    const path = url.pathname.replace(/\/+$/, '');
    if (path !== basePath && !path.startsWith(`${basePath}/`)) {
      return reply(
        res,
        404,
        outcome('not-found', `Not a FHIR endpoint; the FHIR base is ${basePath || '/'}`),
      );
    }
    if (!METHODS.has(method)) {
      return reply(res, 405, outcome('not-supported', `Method ${method} is not supported`), {
        allow: [...METHODS].join(', '),
      });
    }
    const relative = path.slice(basePath.length).replace(/^\/+/, '');

    if (method === 'GET' && relative === 'metadata') return reply(res, 200, capabilityStatement());

    let parsed: unknown;
    try {
      parsed = parseBody(method, req.headers['content-type'], body);
      checkSearch(method, relative, url.searchParams);
    } catch (err) {
      return replyError(res, err);
    }

    try {
      const answer = await serialize(() =>
        route(router, repo, {
          method: method as HttpMethod,
          url: relative + url.search,
          pathname: '',
          params: {},
          query: queryOf(url.searchParams),
          body: parsed,
          headers: req.headers,
          config: { transactions: true },
        }),
      );
      const prefer = method === 'GET' ? undefined : req.headers.prefer;
      respond(
        res,
        answer,
        baseUrl,
        relative,
        url.searchParams,
        typeof prefer === 'string' ? prefer : undefined,
      );
    } catch (err) {
      replyError(res, err);
    }
  };

  const listening = await listen(host, options.port ?? 0, handle);
  baseUrl = `http://${urlHost(host)}:${listening.port}${basePath}`;
  return {
    url: baseUrl,
    port: listening.port,
    repo,
    requests,
    setFailure: (failure, opts) => failures.set(failure, opts),
    reset: () => {
      repo.clear();
      requests.length = 0;
      failures.set(undefined);
    },
    stop: listening.stop,
  };
}

type Answer = [OperationOutcome] | [OperationOutcome, Resource];

/** Runs one request through the router; large transactions are prepared first. */
async function route(router: FhirRouter, repo: EhrRepository, request: FhirRequest): Promise<Answer> {
  if (request.method === 'POST' && request.url.split('?')[0] === '') {
    const prepared = await prepareLargeTransaction(request.body, repo);
    if (prepared) {
      if (!prepared.bundle.entry?.length) {
        return [okOutcome(), prepared.complete(emptyTransactionResponse())];
      }
      const [result, bundle] = await router.handleRequest({ ...request, body: prepared.bundle }, repo);
      if (!isOk(result) || !bundle) return [result];
      return [result, prepared.complete(bundle as Bundle)];
    }
  }
  const [result, resource] = await router.handleRequest(request, repo);
  return resource ? [result, resource] : [result];
}

function respond(
  res: ServerResponse,
  [result, resource]: Answer,
  baseUrl: string,
  relative: string,
  search: URLSearchParams,
  prefer: string | undefined,
): void {
  const status = getStatus(result);
  if (!isOk(result) || !resource) return reply(res, status, result);

  const headers: Record<string, string> = {};
  const versionId = resource.meta?.versionId;
  if (resource.resourceType !== 'Bundle' && resource.id) {
    if (versionId) headers.etag = `W/"${versionId}"`;
    if (resource.meta?.lastUpdated)
      headers['last-modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    if (status === 201) {
      headers.location = `${baseUrl}/${resource.resourceType}/${resource.id}${versionId ? `/_history/${versionId}` : ''}`;
    }
  }
  const body =
    resource.resourceType === 'Bundle'
      ? decorateBundle(resource as Bundle, baseUrl, relative, search)
      : resource;

  const wants = /return\s*=\s*(minimal|representation|OperationOutcome)/i
    .exec(prefer ?? '')?.[1]
    ?.toLowerCase();
  if (wants === 'minimal') return reply(res, status, undefined, headers);
  if (wants === 'operationoutcome') return reply(res, status, result, headers);
  reply(res, status, body, headers);
}

/** Search sets get fullUrls, a self link and a next link; batch answers get etags. */
function decorateBundle(bundle: Bundle, baseUrl: string, relative: string, search: URLSearchParams): Bundle {
  if (bundle.type === 'searchset') {
    const link = [{ relation: 'self', url: `${baseUrl}/${relative}${search.size ? `?${search}` : ''}` }];
    const count = Number(search.get('_count') ?? NaN);
    const offset = Number(search.get('_offset') ?? 0);
    if (Number.isInteger(count) && count > 0 && bundle.total !== undefined && offset + count < bundle.total) {
      const next = new URLSearchParams(search);
      next.set('_offset', String(offset + count));
      link.push({ relation: 'next', url: `${baseUrl}/${relative}?${next}` });
    }
    return {
      ...bundle,
      link,
      entry: bundle.entry?.map((e) => ({
        fullUrl: e.resource?.id ? `${baseUrl}/${e.resource.resourceType}/${e.resource.id}` : undefined,
        ...e,
        search: { mode: 'match' },
      })),
    };
  }
  if (bundle.type === 'transaction-response' || bundle.type === 'batch-response') {
    return {
      ...bundle,
      entry: bundle.entry?.map((e) => {
        const meta = e.resource?.meta;
        if (!e.response || !meta) return e;
        return {
          ...e,
          response: {
            ...e.response,
            ...(meta.versionId ? { etag: `W/"${meta.versionId}"` } : {}),
            ...(meta.lastUpdated ? { lastModified: meta.lastUpdated } : {}),
          },
        };
      }),
    };
  }
  return bundle;
}

function parseBody(method: string, contentType: string | undefined, body: Buffer): unknown {
  if (method === 'GET' || method === 'DELETE') return undefined;
  if (body.length === 0) {
    throw new OperationOutcomeError(badRequest(`${method} needs a request body`));
  }
  const type = mediaType(contentType);
  if (type === FORM && method === 'POST') {
    return Object.fromEntries(new URLSearchParams(body.toString('utf8')));
  }
  const accepted = method === 'PATCH' ? PATCH_BODY_TYPES : JSON_BODY_TYPES;
  if (!type || !accepted.has(type)) {
    throw new HttpOutcomeError(
      415,
      outcome('not-supported', `Content-Type ${type ?? '(none)'} is not accepted; send ${FHIR_JSON}`),
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new OperationOutcomeError(badRequest('Request body is not valid JSON'));
  }
  const isObject = typeof parsed === 'object' && parsed !== null;
  if (method === 'PATCH' ? !Array.isArray(parsed) : !isObject || Array.isArray(parsed)) {
    throw new OperationOutcomeError(
      badRequest(
        method === 'PATCH'
          ? 'A PATCH body must be a JSON Patch array'
          : 'Request body is not a FHIR resource',
      ),
    );
  }
  return parsed;
}

/** Refuses what the in-memory search would silently answer with nothing. */
function checkSearch(method: string, relative: string, params: URLSearchParams): void {
  const segments = relative.split('/').filter(Boolean);
  const type = segments[0];
  if (type === undefined || type.startsWith('$')) return;
  if (!isResourceType(type)) {
    throw new HttpOutcomeError(404, outcome('not-found', `Unknown resource type ${type}`));
  }
  const isSearch = method === 'GET' && segments.length === 1;
  if (!isSearch) return;
  for (const [name, value] of params) {
    const code = name.split(/[:.]/)[0] ?? name;
    if (code === '_count' || code === '_offset') {
      if (!/^\d+$/.test(value))
        throw new OperationOutcomeError(badRequest(`${code} must be a non-negative integer`));
      continue;
    }
    if (COMMON_SEARCH.has(code)) continue;
    if (!getSearchParameter(type, code)) {
      throw new OperationOutcomeError(badRequest(`Unknown search parameter ${code} for ${type}`));
    }
  }
}

function queryOf(params: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = Object.create(null);
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key);
    query[key] = all.length === 1 ? (all[0] as string) : all;
  }
  return query;
}

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, body, FHIR_JSON, headers);
}

function replyError(res: ServerResponse, err: unknown): void {
  if (err instanceof HttpOutcomeError) return reply(res, err.status, err.outcome);
  const result = normalizeOperationOutcome(err);
  reply(res, getStatus(result), result);
}

function okOutcome(): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id: 'ok',
    issue: [{ severity: 'information', code: 'informational' }],
  };
}

function injectedOutcome(status: number): OperationOutcome {
  const code =
    status === 400
      ? 'invalid'
      : status === 401
        ? 'login'
        : status === 403
          ? 'forbidden'
          : status === 404
            ? 'not-found'
            : status === 409 || status === 412
              ? 'conflict'
              : status === 429
                ? 'throttled'
                : status >= 500
                  ? 'transient'
                  : 'processing';
  return outcome(code, `Failure injected by the EHR stand-in (HTTP ${status})`);
}

function capabilityStatement(): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Sinew EHR stand-in (@medplum/fhir-router, in memory)' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
      },
    ],
  };
}

function normalizeBasePath(basePath: string): string {
  const trimmed = basePath.trim().replace(/\/+$/, '');
  if (trimmed === '') return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** Runs the given tasks one at a time, in call order. */
function serializer(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}
