import { applyDecorators, RequestMapping, RequestMethod, SetMetadata } from '@nestjs/common';
import type { Scope } from '@sinew/auth';
import type { z } from 'zod';

/** HTTP methods the admin API uses. */
export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * One operation of the admin API, declared once: the route, the scope it needs, and the zod
 * schemas of what it takes and answers. The guard enforces the scope and validates the input
 * with these schemas; the OpenAPI document is generated from them.
 */
export interface RouteSpec {
  method: ApiMethod;
  /** OpenAPI path template under the server root: `/api/v1/messages/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /**
   * The scope a caller needs; `authenticated`: any signed-in user or valid key; `public`: no
   * credentials (sign-in).
   */
  scope: Scope | 'public' | 'authenticated';
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Media type of the request body when it is not JSON (the token endpoint's form). */
  consumes?: string;
  /** The 2xx body. */
  response: z.ZodType;
  /** 2xx status of a success (default 200). */
  status?: number;
  /** Error statuses worth documenting beyond the ones every route has (400, 401, 403, 429). */
  errors?: readonly number[];
  /** Media type of the success body when it is not JSON (an export stream). */
  produces?: string;
}

export const ROUTE_SPEC = 'sinew:api-route';

/** Every declared operation, in declaration order (the OpenAPI document and the tests read it). */
export const API_ROUTES: RouteSpec[] = [];

/** The Nest path of a route (`/api/v1/messages/{id}` → `api/v1/messages/:id`). */
export function nestPath(path: string): string {
  return path.replace(/^\//, '').replace(/\{(\w+)\}/g, ':$1');
}

/** Declares an operation: registers it and maps the handler. Use on methods of `@Controller()` classes. */
export function ApiRoute(spec: RouteSpec): MethodDecorator {
  if (API_ROUTES.some((r) => r.operationId === spec.operationId))
    throw new Error(`operation ${spec.operationId} is declared twice`);
  API_ROUTES.push(spec);
  return applyDecorators(
    SetMetadata(ROUTE_SPEC, spec),
    RequestMapping({ path: nestPath(spec.path), method: RequestMethod[spec.method] }),
  );
}
