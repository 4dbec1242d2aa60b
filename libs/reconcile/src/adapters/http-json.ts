/**
 * The `http_json` adapter: a JSON API read page by page, by a next link or cursor found in the
 * body, by a page number, or in one request; records picked with JSONPath.
 */
import { z } from 'zod';
import type { Period, RawValue, ReadContext, SideReader, SideRecord } from '../types';
import { ReconcileReadError, type AdapterDefinition, type AdapterDeps } from './errors';
import { authSchema, HttpJsonClient } from './http';
import { compileJsonPath, jsonPathProblem, type CompiledJsonPath } from './jsonpath';

const jsonPath = z.string().superRefine((value, ctx) => {
  const problem = jsonPathProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `JSONPath ${JSON.stringify(value)}: ${problem}` });
});

export const httpJsonSystemSchema = z.strictObject({
  type: z.literal('http_json'),
  base_url: z.string().url(),
  headers: z.record(z.string(), z.string()).optional(),
  auth: authSchema.optional(),
});
export type HttpJsonSystemSettings = z.infer<typeof httpJsonSystemSchema>;

export const httpJsonSideSchema = z
  .strictObject({
    system: z.string().optional(),
    path: z.string().min(1),
    items: jsonPath.default('$'),
    next: jsonPath.optional(),
    page_param: z.string().min(1).optional(),
    /** The first page's number with `page_param` (default 1). */
    first_page: z.number().int().min(0).default(1),
    cursor_param: z.string().min(1).optional(),
    key: jsonPath,
    fields: z.record(z.string(), jsonPath).default({}),
    status: jsonPath.optional(),
    updated_at: jsonPath.optional(),
  })
  .refine((s) => !(s.cursor_param && !s.next), {
    message: 'cursor_param needs next (the JSONPath of the cursor in each page)',
    path: ['cursor_param'],
  })
  .refine((s) => !(s.page_param && (s.next || s.cursor_param)), {
    message: 'page by page_param or by next/cursor_param, not both',
    path: ['page_param'],
  });
export type HttpJsonSideSettings = z.infer<typeof httpJsonSideSchema>;

/** Refuses to follow more pages than this (a server that never stops). */
const MAX_PAGES = 1_000_000;

/** Fills `{from}` and `{to}` with the period's ISO instants (empty when unbounded). */
export function expandUrlTemplate(template: string, period: Period): string {
  return template
    .replaceAll('{from}', period.from ? encodeURIComponent(period.from.toISOString()) : '')
    .replaceAll('{to}', period.to ? encodeURIComponent(period.to.toISOString()) : '');
}

export class HttpJsonSideReader implements SideReader {
  private readonly http: HttpJsonClient;
  private readonly name: string;
  private readonly items: CompiledJsonPath;
  private readonly next?: CompiledJsonPath;
  private readonly key: CompiledJsonPath;
  private readonly fields: Map<string, CompiledJsonPath>;
  private readonly status?: CompiledJsonPath;
  private readonly updatedAt?: CompiledJsonPath;

  constructor(
    private readonly system: HttpJsonSystemSettings,
    private readonly side: HttpJsonSideSettings,
    deps: AdapterDeps,
  ) {
    this.name = deps.systemName ?? side.system ?? 'http_json';
    this.http = new HttpJsonClient(this.name, system, deps);
    this.items = compileJsonPath(side.items);
    if (side.next) this.next = compileJsonPath(side.next);
    this.key = compileJsonPath(side.key);
    this.fields = new Map(Object.entries(side.fields).map(([name, path]) => [name, compileJsonPath(path)]));
    if (side.status) this.status = compileJsonPath(side.status);
    if (side.updated_at) this.updatedAt = compileJsonPath(side.updated_at);
  }

  async *read(ctx: ReadContext): AsyncIterable<SideRecord> {
    const fields = ctx.fields.map((name): [string, CompiledJsonPath] => {
      const path = this.fields.get(name);
      if (!path) {
        throw new ReconcileReadError(
          this.name,
          `entity ${ctx.entity}: its ${ctx.side} side names no JSONPath for field ${name}`,
        );
      }
      return [name, path];
    });
    if (ctx.withStatus && !this.status) {
      throw new ReconcileReadError(
        this.name,
        `entity ${ctx.entity} counts per status, but its ${ctx.side} side names no status`,
      );
    }
    const first = this.firstUrl(ctx.period);
    let url: string | undefined = first;
    let pageNumber = this.side.first_page;
    if (this.side.page_param) url = withParam(first, this.side.page_param, String(pageNumber));
    const seen = new Set<string>();
    for (let page = 1; url; page++) {
      if (page > MAX_PAGES || seen.has(url)) {
        throw new ReconcileReadError(this.name, `page ${page} repeats ${url}: the paging never ends`, {
          target: url,
        });
      }
      seen.add(url);
      const body = await this.http.getJson(url, ctx.signal, `GET page ${page}:`);
      const items = this.itemsOf(body, url);
      for (const item of items) yield this.toRecord(item, fields, ctx.withStatus);

      if (this.side.page_param) {
        if (items.length === 0) break;
        pageNumber += 1;
        url = withParam(first, this.side.page_param, String(pageNumber));
      } else if (this.next) {
        const next = this.next.first(body);
        if (next === null || next === '' || next === false) break;
        url = this.side.cursor_param
          ? withParam(first, this.side.cursor_param, String(next))
          : new URL(String(next), url).toString();
      } else {
        break;
      }
    }
  }

  private firstUrl(period: Period): string {
    const path = expandUrlTemplate(this.side.path, period);
    if (/^https?:\/\//i.test(path)) return path;
    const base = this.system.base_url.replace(/\/+$/, '');
    return `${base}/${path.replace(/^\/+/, '')}`;
  }

  private itemsOf(body: unknown, url: string): unknown[] {
    const found = this.items.all(body);
    const items = found.length === 1 && Array.isArray(found[0]) ? found[0] : found;
    if (found.length === 0 && body !== null && typeof body === 'object' && !Array.isArray(body)) {
      throw new ReconcileReadError(
        this.name,
        `GET ${url}: the answer holds nothing at ${this.items.source}`,
        { target: url },
      );
    }
    return items as unknown[];
  }

  private toRecord(
    item: unknown,
    fields: Array<[string, CompiledJsonPath]>,
    withStatus: boolean,
  ): SideRecord {
    const key = this.key.first(item);
    const record: SideRecord = {
      key: key === null ? '' : String(key),
      fields: Object.fromEntries(fields.map(([name, path]): [string, RawValue] => [name, path.first(item)])),
    };
    if (withStatus && this.status) {
      const status = this.status.first(item);
      record.status = status === null ? null : String(status);
    }
    if (this.updatedAt) {
      const updated = this.updatedAt.first(item);
      record.updatedAt = updated === null ? null : String(updated);
    }
    return record;
  }
}

function withParam(url: string, name: string, value: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set(name, value);
  return parsed.toString();
}

export const httpJsonAdapter: AdapterDefinition<HttpJsonSystemSettings, HttpJsonSideSettings> = {
  type: 'http_json',
  system: httpJsonSystemSchema,
  side: httpJsonSideSchema,
  create: (system, side, deps) => new HttpJsonSideReader(system, side, deps),
};
