import {
  ArgumentsHost,
  Catch,
  HttpException,
  Inject,
  Injectable,
  type ExceptionFilter,
} from '@nestjs/common';
import { HubSearchError } from '@sinew/hub';
import type { Request, Response } from 'express';
import { callOf, errorName, reportMisuse } from './access';
import { FHIR_DEPS, type FhirDeps } from './deps';

/** The media type of every FHIR answer (JSON only). */
export const FHIR_JSON = 'application/fhir+json; fhirVersion=4.0';

/** OperationOutcome.issue.code values the API uses (FHIR R4 IssueType). */
export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'suspended'
  | 'throttled'
  | 'not-found'
  | 'deleted'
  | 'not-supported'
  | 'processing'
  | 'exception'
  | 'informational'
  | 'incomplete'
  | 'too-costly';

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: Array<{
    severity: 'fatal' | 'error' | 'warning' | 'information';
    code: IssueCode;
    diagnostics?: string;
    expression?: string[];
  }>;
}

/** An error the API answers with its status and an OperationOutcome. */
export class FhirError extends Error {
  constructor(
    readonly status: number,
    readonly code: IssueCode,
    readonly diagnostics: string,
    readonly options: {
      expression?: string;
      headers?: Record<string, string>;
      /** Misuse to report for the app (`unexpected_payload`, `forbidden`). */
      misuse?: 'unexpected_payload' | 'forbidden';
    } = {},
  ) {
    super(diagnostics);
    this.name = 'FhirError';
  }
}

export function outcome(
  code: IssueCode,
  diagnostics: string,
  severity: OperationOutcome['issue'][number]['severity'] = 'error',
  expression?: string,
): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, diagnostics, ...(expression ? { expression: [expression] } : {}) }],
  };
}

/** Writes a FHIR JSON answer (no charset rewriting: the bytes are UTF-8 JSON). */
export function sendFhir(
  res: Response,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.status(status);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', FHIR_JSON);
  res.setHeader('Content-Length', String(bytes.length));
  res.end(bytes);
}

/** What any error becomes: its status, its OperationOutcome and headers, without internals. */
export function outcomeOf(err: unknown): {
  status: number;
  body: OperationOutcome;
  headers: Record<string, string>;
} {
  if (err instanceof FhirError) {
    return {
      status: err.status,
      body: outcome(err.code, err.diagnostics, 'error', err.options.expression),
      headers: err.options.headers ?? {},
    };
  }
  if (err instanceof HubSearchError) {
    return { status: 400, body: outcome('invalid', err.message, 'error', err.param), headers: {} };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    if (status === 404) return { status, body: outcome('not-found', 'no such route'), headers: {} };
    // Nest's own exceptions (the body parser's among them) can quote the request: not repeated.
    if (status === 413)
      return {
        status,
        body: outcome('too-costly', 'the request body is larger than the limit'),
        headers: {},
      };
    if (status < 500)
      return { status, body: outcome('structure', 'the request cannot be read'), headers: {} };
  }
  const status = (err as { status?: unknown } | undefined)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const type = (err as { type?: unknown }).type;
    const diagnostics =
      type === 'entity.too.large'
        ? 'the request body is larger than the limit'
        : type === 'entity.parse.failed'
          ? 'the request body is not valid JSON'
          : 'the request body cannot be read';
    return {
      status,
      body: outcome(type === 'entity.too.large' ? 'too-costly' : 'structure', diagnostics),
      headers: {},
    };
  }
  return { status: 500, body: outcome('exception', 'internal error', 'fatal'), headers: {} };
}

/** Whether a request is the FHIR API's (its errors are OperationOutcomes). */
export function isFhirPath(path: string): boolean {
  return path === '/fhir/R4' || path.startsWith('/fhir/R4/');
}

/** An error raised outside the FHIR routes' own filter (by the body parser) as an OperationOutcome. */
export function writeFhirError(res: Response, err: unknown, onInternal: (err: unknown) => void): void {
  const { status, body, headers } = outcomeOf(err);
  if (status >= 500) onInternal(err);
  sendFhir(res, status, body, headers);
}

/**
 * Every error of a FHIR route as an OperationOutcome; an error marked as misuse is reported
 * for the app that made the request.
 */
@Catch()
@Injectable()
export class OperationOutcomeFilter implements ExceptionFilter {
  constructor(@Inject(FHIR_DEPS) private readonly deps: FhirDeps) {}

  async catch(err: unknown, host: ArgumentsHost): Promise<void> {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const { status, body, headers } = outcomeOf(err);
    if (status >= 500 && !(err instanceof FhirError)) {
      this.deps.logger?.error(
        { path: req.path.slice(0, 200), err: errorName(err) },
        'FHIR API request failed',
      );
    }
    const call = callOf(req);
    if (err instanceof FhirError && err.options.misuse && call) {
      await reportMisuse(
        this.deps,
        call.app,
        err.options.misuse,
        `${req.method} ${call.path}: ${err.diagnostics}`,
      );
    }
    sendFhir(res, status, body, headers);
  }
}
