/**
 * The `fhir` adapter: a FHIR R4 type search, paged with `_count` and the `next` links, trimmed
 * with `_elements`, filtered on the period with a date search parameter; counts with
 * `_summary=count`.
 */
import { z } from 'zod';
import type { ReadContext, SideReader, SideRecord } from '../types';
import { ReconcileReadError, type AdapterDefinition, type AdapterDeps } from './errors';
import { evaluateSimplePath, parseSimplePath, type SimplePath } from './fhir-path';
import { authSchema, HttpJsonClient } from './http';

const simplePath = z.string().superRefine((value, ctx) => {
  try {
    parseSimplePath(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

export const fhirSystemSchema = z.strictObject({
  type: z.literal('fhir'),
  base_url: z.string().url(),
  headers: z.record(z.string(), z.string()).optional(),
  auth: authSchema.optional(),
});
export type FhirSystemSettings = z.infer<typeof fhirSystemSchema>;

export const fhirSideSchema = z.strictObject({
  system: z.string().optional(),
  resource: z.string().regex(/^[A-Z][A-Za-z]+$/, 'a FHIR resource type such as Patient'),
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  key: simplePath,
  fields: z.record(z.string(), simplePath).default({}),
  status: simplePath.optional(),
  date_param: z.string().min(1).default('_lastUpdated'),
});
export type FhirSideSettings = z.infer<typeof fhirSideSchema>;

/** Resources per page (`_count`). */
export const FHIR_PAGE_SIZE = 500;

interface Bundle {
  resourceType?: unknown;
  total?: unknown;
  link?: Array<{ relation?: unknown; url?: unknown }>;
  entry?: Array<{ fullUrl?: unknown; resource?: Record<string, unknown>; search?: { mode?: unknown } }>;
}

export class FhirSideReader implements SideReader {
  private readonly http: HttpJsonClient;
  private readonly base: string;
  private readonly name: string;
  private readonly keyPath: SimplePath;
  private readonly fieldPaths: Map<string, SimplePath>;
  private readonly statusPath?: SimplePath;

  constructor(
    private readonly system: FhirSystemSettings,
    private readonly side: FhirSideSettings,
    deps: AdapterDeps,
  ) {
    this.name = deps.systemName ?? side.system ?? 'fhir';
    this.http = new HttpJsonClient(this.name, system, deps);
    this.base = system.base_url.replace(/\/+$/, '');
    this.keyPath = parseSimplePath(side.key);
    this.fieldPaths = new Map(
      Object.entries(side.fields).map(([name, path]) => [name, parseSimplePath(path)]),
    );
    if (side.status) this.statusPath = parseSimplePath(side.status);
  }

  async *read(ctx: ReadContext): AsyncIterable<SideRecord> {
    const fields = this.pathsFor(ctx);
    if (ctx.withStatus && !this.statusPath) {
      throw new ReconcileReadError(
        this.name,
        `entity ${ctx.entity} counts per status, but its ${ctx.side} side names no status path`,
      );
    }
    const elements = new Set<string>([this.keyPath.first, ...fields.map(([, p]) => p.first), 'meta']);
    if (ctx.withStatus && this.statusPath) elements.add(this.statusPath.first);
    const search = this.searchParams(ctx);
    search.set('_count', String(FHIR_PAGE_SIZE));
    search.set('_elements', [...elements].join(','));
    let url: string | undefined = `${this.base}/${this.side.resource}?${search}`;
    const seen = new Set<string>();
    let page = 0;
    while (url) {
      page += 1;
      if (seen.has(url)) {
        throw new ReconcileReadError(
          this.name,
          `page ${page} of the ${this.side.resource} search links back to ${url}`,
          { target: url },
        );
      }
      seen.add(url);
      const bundle = this.asBundle(await this.http.getJson(url, ctx.signal, `GET page ${page}:`), url);
      for (const entry of bundle.entry ?? []) {
        const resource = entry.resource;
        if (!resource || typeof resource !== 'object') continue;
        const mode = entry.search?.mode;
        if (mode !== undefined && mode !== 'match') continue;
        if (resource.resourceType !== this.side.resource) continue;
        yield this.toRecord(resource, entry.fullUrl, fields, ctx.withStatus);
      }
      const next = bundle.link?.find((l) => l.relation === 'next')?.url;
      url = typeof next === 'string' && next ? new URL(next, url).toString() : undefined;
    }
  }

  async count(ctx: ReadContext): Promise<Map<string, number> | undefined> {
    // Per-status counts would need one search per status value, which are not known up front.
    if (ctx.withStatus) return undefined;
    const search = this.searchParams(ctx);
    search.set('_summary', 'count');
    const url = `${this.base}/${this.side.resource}?${search}`;
    const bundle = this.asBundle(await this.http.getJson(url, ctx.signal, 'GET count:'), url);
    return typeof bundle.total === 'number' ? new Map([['', bundle.total]]) : undefined;
  }

  private pathsFor(ctx: ReadContext): Array<[string, SimplePath]> {
    return ctx.fields.map((name) => {
      const path = this.fieldPaths.get(name);
      if (!path) {
        throw new ReconcileReadError(
          this.name,
          `entity ${ctx.entity}: its ${ctx.side} side names no path for field ${name}`,
        );
      }
      return [name, path];
    });
  }

  private searchParams(ctx: ReadContext): URLSearchParams {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(this.side.params ?? {})) search.append(name, String(value));
    const dateParam = this.side.date_param;
    if (dateParam !== 'none') {
      if (ctx.period.from) search.append(dateParam, `ge${ctx.period.from.toISOString()}`);
      if (ctx.period.to) search.append(dateParam, `lt${ctx.period.to.toISOString()}`);
    }
    return search;
  }

  private asBundle(body: unknown, url: string): Bundle {
    if (!body || typeof body !== 'object' || (body as Bundle).resourceType !== 'Bundle') {
      throw new ReconcileReadError(this.name, `GET ${url} did not answer a Bundle`, { target: url });
    }
    return body as Bundle;
  }

  private toRecord(
    resource: Record<string, unknown>,
    fullUrl: unknown,
    fields: Array<[string, SimplePath]>,
    withStatus: boolean,
  ): SideRecord {
    const key = evaluateSimplePath(this.keyPath, resource);
    const record: SideRecord = {
      key: key === null ? '' : String(key),
      fields: Object.fromEntries(fields.map(([name, path]) => [name, evaluateSimplePath(path, resource)])),
    };
    if (withStatus && this.statusPath) {
      const status = evaluateSimplePath(this.statusPath, resource);
      record.status = status === null ? null : String(status);
    }
    const meta = resource.meta as { lastUpdated?: unknown } | undefined;
    if (typeof meta?.lastUpdated === 'string') record.updatedAt = meta.lastUpdated;
    if (typeof fullUrl === 'string') record.ref = fullUrl;
    else if (typeof resource.id === 'string') record.ref = `${this.side.resource}/${resource.id}`;
    return record;
  }
}

export const fhirAdapter: AdapterDefinition<FhirSystemSettings, FhirSideSettings> = {
  type: 'fhir',
  system: fhirSystemSchema,
  side: fhirSideSchema,
  create: (system, side, deps) => new FhirSideReader(system, side, deps),
};
