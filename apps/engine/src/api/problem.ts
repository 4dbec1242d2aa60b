import { ArgumentsHost, Catch, HttpException, type ExceptionFilter, type HttpServer } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { AccessError, OAuthError } from '@sinew/auth';
import { StoreError } from '@sinew/store';
import type { Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { isFhirPath, writeFhirError } from '../fhir/outcome';
import { ZodError } from 'zod';

/** One invalid input: where (`query.limit`, `body.ids[2]`) and what is wrong. */
export interface InvalidParam {
  name: string;
  reason: string;
}

/** An RFC 9457 problem: what every admin API error answers, as `application/problem+json`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  /** A stable code: `auth.missing`, `scope.required`, `request.invalid`, `message.not_found` … */
  code: string;
  invalid_params?: InvalidParam[];
  /** For 403: the scope the operation needs. */
  required_scope?: string;
}

/** An error the API answers as a problem (thrown by guards, handlers and services). */
export class ApiProblem extends HttpException {
  constructor(
    readonly problem: Omit<Problem, 'type' | 'title'> & { title?: string },
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.detail ?? problem.code, problem.status);
  }
}

export function problemBody(p: Omit<Problem, 'type' | 'title'> & { title?: string }): Problem {
  return { type: 'about:blank', title: p.title ?? STATUS_CODES[p.status] ?? 'Error', ...p };
}

/** A zod error as invalid params named by where they are (`query.limit`). */
export function invalidParams(where: string, err: ZodError): InvalidParam[] {
  return err.issues.map((i) => ({
    name: [where, ...i.path.map(String)].join('.').replace(/\.(\d+)(?=\.|$)/g, '[$1]'),
    reason: i.message,
  }));
}

export function writeProblem(res: Response, problem: Problem, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
}

/** Whether a request is the admin API's (its errors are problems; others keep Nest's format). */
export function isApiPath(path: string): boolean {
  return path.startsWith('/api/') || path === '/api' || path.startsWith('/oauth/');
}

/** The OAuth2 token endpoint: its errors are RFC 6749 §5.2 JSON, not problems. */
export const TOKEN_PATH = '/oauth/token';

/**
 * An error of the token endpoint as RFC 6749 §5.2 answers it: `{ error, error_description }`
 * (400, or 401 for `invalid_client` with a Basic challenge); a malformed request is
 * `invalid_request`, a rate limit keeps its 429 and Retry-After.
 */
export function writeOAuthError(res: Response, err: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  let status: number;
  let body: { error: string; error_description?: string };
  let headers: Record<string, string> = {};
  if (err instanceof OAuthError) {
    status = err.status;
    body = { error: err.error, error_description: err.description };
    if (status === 401) headers = { 'WWW-Authenticate': 'Basic realm="sinew"' };
  } else {
    const { problem, headers: h } = problemOf(err);
    status = problem.status;
    headers = h;
    body =
      status >= 500
        ? { error: 'server_error', error_description: 'internal error' }
        : {
            error: status === 429 ? 'slow_down' : 'invalid_request',
            error_description:
              problem.invalid_params
                ?.map((p) => `${p.name.replace(/^body\./, '')}: ${p.reason}`)
                .join('; ') ??
              problem.detail ??
              problem.title,
          };
  }
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Cache-Control', 'no-store');
  res.status(status).type('application/json').send(JSON.stringify(body));
}

/** What an error that is not an `ApiProblem` becomes, without leaking internals. */
export function problemOf(err: unknown): { problem: Problem; headers: Record<string, string> } {
  if (err instanceof ApiProblem) return { problem: problemBody(err.problem), headers: err.headers };
  if (err instanceof ZodError) {
    return {
      problem: problemBody({
        status: 400,
        code: 'request.invalid',
        detail: 'the request is invalid',
        invalid_params: invalidParams('body', err),
      }),
      headers: {},
    };
  }
  if (err instanceof AccessError) {
    const status = err.code === 'access.not_found' ? 404 : err.code === 'access.conflict' ? 409 : 400;
    return { problem: problemBody({ status, code: err.code, detail: err.message }), headers: {} };
  }
  if (err instanceof StoreError) {
    const status =
      err.code === 'store.not_found'
        ? 404
        : err.code === 'store.conflict'
          ? 409
          : err.code === 'store.closed'
            ? 503
            : 400;
    // Store messages name ids and states, never content.
    return { problem: problemBody({ status, code: err.code, detail: err.message }), headers: {} };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const code = status === 404 ? 'route.not_found' : status === 413 ? 'request.too_large' : 'http.error';
    const detail = status === 404 ? 'no such route' : status >= 500 ? undefined : err.message;
    return { problem: problemBody({ status, code, ...(detail ? { detail } : {}) }), headers: {} };
  }
  // Body-parser errors carry their status (400 malformed, 413 too large, 415 charset).
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const type = (err as { type?: unknown }).type;
    const code =
      type === 'entity.too.large'
        ? 'request.too_large'
        : type === 'entity.parse.failed'
          ? 'request.malformed_json'
          : 'request.invalid';
    const detail =
      code === 'request.too_large'
        ? 'the request body is larger than the limit'
        : code === 'request.malformed_json'
          ? 'the request body is not valid JSON'
          : 'the request body cannot be read';
    return { problem: problemBody({ status, code, detail }), headers: {} };
  }
  return { problem: problemBody({ status: 500, code: 'internal', detail: 'internal error' }), headers: {} };
}

/**
 * Every error of an admin API request as `application/problem+json` (no stack, no SQL, no
 * internal path); other routes keep Nest's answers.
 */
@Catch()
export class ProblemFilter extends BaseExceptionFilter implements ExceptionFilter {
  constructor(
    httpAdapter: HttpServer,
    private readonly onInternal: (err: unknown) => void = () => undefined,
    /** Told of each error of a FHIR API request that its routes did not answer (an unreadable body). */
    private readonly onFhirError: (err: unknown, req: Request) => void = () => undefined,
  ) {
    super(httpAdapter);
  }

  override catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    // Errors before a FHIR route runs (an unreadable body) are OperationOutcomes too.
    if (isFhirPath(req.path)) {
      this.onFhirError(err, req);
      return writeFhirError(res, err, this.onInternal);
    }
    if (!isApiPath(req.path)) return super.catch(err, host);
    if (req.path === TOKEN_PATH) {
      if (!(err instanceof OAuthError) && problemOf(err).problem.status >= 500) this.onInternal(err);
      return writeOAuthError(res, err);
    }
    const { problem, headers } = problemOf(err);
    if (problem.status >= 500) this.onInternal(err);
    writeProblem(res, problem, headers);
  }
}
