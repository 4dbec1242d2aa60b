import { z } from 'zod';
import { API_CONTROLLERS } from './api.module';
import { API_ROUTES, type RouteSpec } from './route';

/** The controllers are loaded (their decorators declare the routes) before the list is read. */
void API_CONTROLLERS;

function params(schema: z.ZodObject | undefined): string {
  if (!schema) return '';
  const s = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { description?: string }>;
  };
  return Object.keys(s.properties ?? {})
    .map((k) => `\`${k}\``)
    .join(', ');
}

function row(r: RouteSpec): string {
  const input = [params(r.params), params(r.query), r.body ? 'JSON body' : ''].filter(Boolean).join('; ');
  return `| \`${r.method} ${r.path}\` | \`${r.scope}\` | ${r.summary} | ${input || '—'} |`;
}

/** docs/reference/api.md: every admin API operation with the scope it needs, from the declarations. */
export function apiReference(routes: readonly RouteSpec[] = API_ROUTES): string {
  const tags = [...new Set(routes.map((r) => r.tag))];
  const sections = tags.map(
    (tag) =>
      `## ${tag}\n\n| Operation | Scope | What it does | Input |\n| --- | --- | --- | --- |\n${routes
        .filter((r) => r.tag === tag)
        .map(row)
        .join('\n')}\n`,
  );
  return `<!-- Generated from the route declarations (apps/engine/src/api): run \`npm run docs\`. -->

# Admin API operations

Every operation of \`/api/v1\`, the scope its caller needs (an \`admin\` key has them all) and
what it takes. Request and response bodies are in the OpenAPI document the engine serves at
\`/openapi.json\` (and as a page at \`/docs\`); docs/api.md explains their use.

${sections.join('\n')}`;
}
