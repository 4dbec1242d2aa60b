import { SCOPE_DESCRIPTIONS, SCOPES } from '@sinew/auth';
import { z } from 'zod';
import type { RouteSpec } from './route';

type Json = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
  const s = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
  delete s.$schema;
  return s;
}

/** Path or query parameters of a route, from its zod object schema. */
function parameters(schema: z.ZodObject | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const s = schemaOf(schema, 'input');
  const props = (s.properties ?? {}) as Record<string, Json>;
  const required = new Set((s.required ?? []) as string[]);
  return Object.entries(props).map(([name, p]) => {
    const { description, ...rest } = p;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

const PROBLEM: Json = {
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'Stable code: auth.missing, scope.required, request.invalid …' },
    invalid_params: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'reason'],
        properties: { name: { type: 'string' }, reason: { type: 'string' } },
      },
    },
    required_scope: { type: 'string' },
  },
};

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request (the problem names each invalid parameter)',
  401: 'No credentials, or unknown, expired, revoked or paused ones',
  403: 'The credentials lack the scope or the channel',
  404: 'Not found',
  409: 'Conflict with the object’s state',
  413: 'Request body too large',
  429: 'Rate limit reached (see Retry-After)',
};

/** The OpenAPI 3.1 document of the admin API, generated from the declared routes. */
export function openApiDocument(routes: readonly RouteSpec[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const errors = new Set<number>([
      400,
      ...(r.scope === 'public' ? [] : [401, 403, 429]),
      ...(r.errors ?? []),
    ]);
    if (r.body) errors.add(413);
    const responses: Record<string, Json> = {
      [String(r.status ?? 200)]: {
        description: r.summary,
        content: { [r.produces ?? 'application/json']: { schema: schemaOf(r.response, 'output') } },
      },
    };
    for (const status of [...errors].sort()) {
      responses[String(status)] = {
        description: ERROR_TEXT[status] ?? 'Error',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    }
    const op: Json = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      security:
        r.scope === 'public'
          ? []
          : r.scope === 'authenticated'
            ? [{ bearer: [] }, { session: [] }]
            : [{ bearer: [r.scope] }, { session: [r.scope] }],
      'x-sinew-scope': r.scope,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { [r.consumes ?? 'application/json']: { schema: schemaOf(r.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sinew admin API',
      version,
      description:
        'Channels, messages, dead letters, users, keys and the audit log of a Sinew engine. Every operation needs `Authorization: Bearer <API key>` with the scope it declares (`x-sinew-scope`); errors are `application/problem+json`.\n\nScopes:\n' +
        SCOPES.map((s) => `- \`${s}\`: ${SCOPE_DESCRIPTIONS[s]}`).join('\n'),
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { session: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key (`sinew keys create`): `Authorization: Bearer snw_…`, or an OAuth2 access token from `POST /oauth/token`',
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'sinew_session',
          description:
            'A browser session (`POST /api/v1/session`); POST, PUT and DELETE also need the `X-CSRF-Token` header',
        },
      },
      schemas: { Problem: PROBLEM },
    },
  };
}
