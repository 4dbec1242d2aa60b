import { All, Controller, Delete, Get, Inject, Param, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { FhirResource, HubVersion } from '@sinew/hub';
import type { Request, Response } from 'express';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { allows, authenticate, callOf, reportMisuse, requireScope, type FhirCall } from './access';
import { capabilityStatement } from './capability';
import { FHIR_BASE, FHIR_DEPS, type FhirDeps } from './deps';
import { ExportJobs } from './export-jobs';
import { FhirError, OperationOutcomeFilter, outcome, sendFhir } from './outcome';
import {
  checkFormat,
  formPairs,
  includedPatientIds,
  linkUrl,
  parseSearch,
  queryPairs,
  subset,
  type QueryPairs,
} from './search';

export const EXPORT_JOBS = Symbol('EXPORT_JOBS');

const TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const NDJSON_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);

/** The engine's origin as links use it: the configured public URL, else the request's own. */
export function originOf(deps: FhirDeps, req: Request): string {
  if (deps.baseUrl) return deps.baseUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

function fhirBaseOf(deps: FhirDeps, req: Request): string {
  return `${originOf(deps, req)}${FHIR_BASE}`;
}

function withMeta(v: HubVersion): FhirResource {
  return {
    ...v.resource,
    resourceType: v.resourceType,
    id: v.id,
    meta: { ...(v.resource.meta ?? {}), versionId: String(v.versionId), lastUpdated: v.lastUpdated },
  };
}

function versionHeaders(v: HubVersion): Record<string, string> {
  return { ETag: `W/"${v.versionId}"`, 'Last-Modified': new Date(v.lastUpdated).toUTCString() };
}

/** Reads, searches, history, `$everything`, `$export` and the CapabilityStatement under `/fhir/R4`. */
@Controller('fhir/R4')
@UseFilters(OperationOutcomeFilter)
export class FhirController {
  constructor(
    @Inject(FHIR_DEPS) private readonly deps: FhirDeps,
    @Inject(EXPORT_JOBS) private readonly jobs: ExportJobs,
  ) {}

  private knownType(type: string): void {
    if (!TYPE.test(type) || this.deps.hub.searchParams()[type] === undefined) {
      throw new FhirError(404, 'not-supported', `the resource type ${type.slice(0, 64)} is not served`);
    }
  }

  private checkId(id: string, what = 'id'): void {
    if (!ID.test(id)) throw new FhirError(400, 'invalid', `${what} is not a valid FHIR id`);
  }

  /** Refuses parameters an interaction does not take. */
  private onlyParams(pairs: QueryPairs, allowed: readonly string[]): void {
    for (const [name] of pairs) {
      if (name === '_format' || name === '_pretty' || allowed.includes(name)) continue;
      throw new FhirError(400, 'not-supported', `the parameter ${name.slice(0, 64)} is not supported here`, {
        expression: name.slice(0, 64),
      });
    }
  }

  @Get('metadata')
  metadata(@Req() req: Request, @Res() res: Response): void {
    checkFormat(queryPairs(req.originalUrl), req.headers.accept);
    const origin = originOf(this.deps, req);
    sendFhir(
      res,
      200,
      capabilityStatement(this.deps, `${origin}${FHIR_BASE}`, this.deps.tokenUrl ?? `${origin}/oauth/token`),
    );
  }

  // --- Bulk Data $export -------------------------------------------------------------------

  @Get('$export')
  async systemExport(@Req() req: Request, @Res() res: Response): Promise<void> {
    const call = await authenticate(this.deps, req, res, '$export');
    await this.kickOff(call, req, res, undefined);
  }

  @Get('Patient/$export')
  async patientExport(@Req() req: Request, @Res() res: Response): Promise<void> {
    const call = await authenticate(this.deps, req, res, 'Patient/$export');
    await this.kickOff(call, req, res, async () => {
      const ids: string[] = [];
      for await (const p of this.deps.hub.exportResources(call.viewer, { types: ['Patient'] })) {
        if (p.id) ids.push(p.id);
      }
      return ids;
    });
  }

  @Get('Group/:id/$export')
  async groupExport(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const call = await authenticate(this.deps, req, res, `Group/${id}/$export`);
    this.checkId(id);
    await requireScope(this.deps, call, 'Group', ['r']);
    const group = await this.deps.hub.read(call.viewer, 'Group', id);
    if (!group) throw new FhirError(404, 'not-found', `Group/${id} is not known`);
    if (group.deleted) throw new FhirError(410, 'deleted', `Group/${id} was deleted`);
    const members = Array.isArray(group.resource.member) ? (group.resource.member as unknown[]) : [];
    const ids = members
      .map((m) => (m as { entity?: { reference?: unknown } }).entity?.reference)
      .map((r) =>
        typeof r === 'string' ? /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(r)?.[1] : undefined,
      )
      .filter((x): x is string => x !== undefined);
    await this.kickOff(call, req, res, () => Promise.resolve(ids));
  }

  private async kickOff(
    call: FhirCall,
    req: Request,
    res: Response,
    /** The patients a Patient- or Group-level export is limited to (read once the request is valid). */
    patients?: () => Promise<string[]>,
  ): Promise<void> {
    const pairs = queryPairs(req.originalUrl);
    checkFormat(
      pairs.filter(([n]) => n !== '_outputFormat'),
      undefined,
    );
    this.onlyParams(pairs, ['_type', '_since', '_outputFormat']);
    const prefer = String(req.headers.prefer ?? '').toLowerCase();
    if (!prefer.split(/[,;]/).some((p: string) => p.trim() === 'respond-async')) {
      throw new FhirError(400, 'required', '$export is asynchronous: send Prefer: respond-async', {
        expression: 'Prefer',
      });
    }
    const accept = req.headers.accept;
    if (accept && !/application\/fhir\+json|\*\/\*|application\/json/.test(accept)) {
      throw new FhirError(406, 'not-supported', 'Accept must be application/fhir+json');
    }
    let since: Date | undefined;
    let types: string[] | undefined;
    for (const [name, value] of pairs) {
      if (name === '_outputFormat' && !NDJSON_FORMATS.has(value)) {
        throw new FhirError(
          400,
          'not-supported',
          `_outputFormat ${value.slice(0, 64)} is not supported: application/fhir+ndjson`,
          {
            expression: '_outputFormat',
          },
        );
      }
      if (name === '_since') {
        if (
          !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value) ||
          Number.isNaN(Date.parse(value))
        ) {
          throw new FhirError(400, 'invalid', '_since must be a FHIR instant (2024-01-31T00:00:00Z)', {
            expression: '_since',
          });
        }
        since = new Date(value);
      }
      if (name === '_type') {
        types = [
          ...(types ?? []),
          ...value
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean),
        ];
      }
    }
    const served = Object.keys(this.deps.hub.searchParams());
    if (types) {
      for (const t of types) {
        if (!served.includes(t)) {
          throw new FhirError(400, 'not-supported', `_type names ${t.slice(0, 64)}, which is not served`, {
            expression: '_type',
          });
        }
        await requireScope(this.deps, call, t, ['r', 's']);
      }
    }
    const exported = (types ?? served).filter((t) => allows(call, t, ['r', 's']));
    if (exported.length === 0) {
      await reportMisuse(this.deps, call.app, 'forbidden', `${call.path}: no type it may export`);
      throw new FhirError(403, 'forbidden', 'the app may read and search none of the types to export');
    }
    const patientIds = patients ? await patients() : undefined;
    const job = await this.jobs.start(
      { environment: call.viewer.environment, appId: call.app.appId },
      `${originOf(this.deps, req)}${req.originalUrl}`,
      {
        types: exported,
        ...(since ? { since } : {}),
        ...(patientIds ? { patientIds } : {}),
      },
    );
    res.setHeader('Content-Location', `${fhirBaseOf(this.deps, req)}/bulk-status/${job.id}`);
    sendFhir(res, 202, outcome('informational', `export ${job.id} started`, 'information'));
  }

  @Get('bulk-status/:job')
  async exportStatus(@Param('job') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const call = await authenticate(this.deps, req, res, `bulk-status/${id}`, { checkEndpoints: false });
    const job = await this.jobs.get(id, call.app.appId);
    if (!job) throw new FhirError(404, 'not-found', 'no such export');
    if (job.state === 'running') {
      res.setHeader('X-Progress', `${job.written} resources written`);
      res.setHeader('Retry-After', '1');
      res.status(202).end();
      return;
    }
    if (job.state === 'failed') throw new FhirError(500, 'exception', job.failure ?? 'the export failed');
    const base = fhirBaseOf(this.deps, req);
    res.setHeader('Expires', new Date(Date.now() + 24 * 3600 * 1000).toUTCString());
    const manifest = {
      transactionTime: job.transactionTime,
      request: job.request,
      requiresAccessToken: true,
      output: job.output.map((o) => ({
        type: o.type,
        url: `${base}/bulk-files/${job.id}/${o.file}`,
        count: o.count,
      })),
      error: [],
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    res.status(200).setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', String(bytes.length));
    res.end(bytes);
  }

  @Delete('bulk-status/:job')
  async cancelExport(@Param('job') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const call = await authenticate(this.deps, req, res, `bulk-status/${id}`, { checkEndpoints: false });
    if (!(await this.jobs.cancel(id, call.app.appId)))
      throw new FhirError(404, 'not-found', 'no such export');
    sendFhir(
      res,
      202,
      outcome('informational', `export ${id} cancelled and its files removed`, 'information'),
    );
  }

  @Get('bulk-files/:job/:file')
  async exportFile(
    @Param('job') id: string,
    @Param('file') name: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const call = await authenticate(this.deps, req, res, `bulk-files/${id}/${name}`, {
      checkEndpoints: false,
    });
    const path = await this.jobs.file(id, call.app.appId, name);
    if (!path) throw new FhirError(404, 'not-found', 'no such export file');
    const size = (await stat(path)).size;
    res.status(200);
    res.setHeader('Content-Type', 'application/fhir+ndjson');
    res.setHeader('Content-Length', String(size));
    await new Promise<void>((resolve, reject) => {
      const stream = createReadStream(path);
      stream.on('error', reject);
      res.on('close', () => resolve());
      stream.pipe(res);
    });
  }

  // --- Patient/$everything -----------------------------------------------------------------

  @Get('Patient/:id/$everything')
  async everything(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const call = await authenticate(this.deps, req, res, `Patient/${id}/$everything`);
    const pairs = queryPairs(req.originalUrl);
    checkFormat(pairs, req.headers.accept);
    this.onlyParams(pairs, ['_type']);
    this.checkId(id);
    await requireScope(this.deps, call, 'Patient', ['r', 's']);
    const only = pairs
      .filter(([n]) => n === '_type')
      .flatMap(([, v]) => v.split(','))
      .map((t) => t.trim())
      .filter(Boolean);
    for (const t of only) await requireScope(this.deps, call, t, ['r', 's']);
    const resources = await this.deps.hub.everything(call.viewer, id);
    if (!resources) throw new FhirError(404, 'not-found', `Patient/${id} is not known`);
    const base = fhirBaseOf(this.deps, req);
    const kept = resources.filter(
      (r) => allows(call, r.resourceType, ['r', 's']) && (only.length === 0 || only.includes(r.resourceType)),
    );
    for (const r of kept) call.objectIds.push(`${r.resourceType}/${r.id}`);
    sendFhir(res, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      total: kept.length,
      link: [{ relation: 'self', url: linkUrl(base, `Patient/${id}/$everything`, pairs) }],
      ...(kept.length
        ? {
            entry: kept.map((r) => ({
              fullUrl: `${base}/${r.resourceType}/${r.id}`,
              resource: r,
              search: { mode: 'match' },
            })),
          }
        : {}),
    });
  }

  // --- search ------------------------------------------------------------------------------

  @Get(':type')
  async searchGet(@Param('type') type: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const call = await authenticate(this.deps, req, res, type);
    await this.search(call, type, queryPairs(req.originalUrl), req, res);
  }

  @Post(':type/_search')
  async searchPost(@Param('type') type: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const call = await authenticate(this.deps, req, res, `${type}/_search`);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (
      req.headers['content-length'] !== '0' &&
      contentType !== '' &&
      contentType !== 'application/x-www-form-urlencoded'
    ) {
      await reportMisuse(
        this.deps,
        call.app,
        'unexpected_payload',
        `${call.path}: body of type ${contentType.slice(0, 64)}`,
      );
      throw new FhirError(415, 'not-supported', 'a _search body must be application/x-www-form-urlencoded');
    }
    await this.search(call, type, [...queryPairs(req.originalUrl), ...formPairs(req.body)], req, res);
  }

  private async search(
    call: FhirCall,
    type: string,
    pairs: QueryPairs,
    req: Request,
    res: Response,
  ): Promise<void> {
    checkFormat(pairs, req.headers.accept);
    this.knownType(type);
    await requireScope(this.deps, call, type, ['s']);
    const params = this.deps.hub.searchParams()[type];
    const { request, options } = parseSearch(type, pairs, params);
    const base = fhirBaseOf(this.deps, req);
    const self = pairs.filter(([n]) => n !== '_format' && n !== '_pretty');
    const page = await this.deps.hub.search(call.viewer, request);
    if (options.summaryCount) {
      sendFhir(res, 200, {
        resourceType: 'Bundle',
        type: 'searchset',
        total: page.total ?? 0,
        link: [{ relation: 'self', url: linkUrl(base, type, self) }],
      });
      return;
    }
    let total = page.total;
    if (options.total === 'none') total = undefined;
    else if (options.total === 'accurate' && total === undefined) {
      total = (await this.deps.hub.search(call.viewer, { ...request, cursor: undefined, totalOnly: true }))
        .total;
    }
    const entry: Array<Record<string, unknown>> = [];
    for (const r of page.resources) {
      call.objectIds.push(`${r.resourceType}/${r.id}`);
      entry.push({
        fullUrl: `${base}/${r.resourceType}/${r.id}`,
        resource: options.elements ? subset(r, options.elements) : r,
        search: { mode: 'match' },
      });
    }
    if (options.include.length > 0 && allows(call, 'Patient', ['r'])) {
      const seen = new Set<string>();
      for (const r of page.resources) {
        for (const inc of options.include) {
          for (const pid of includedPatientIds(r, inc.param)) {
            if (seen.has(pid)) continue;
            seen.add(pid);
            const v = await this.deps.hub.read(call.viewer, 'Patient', pid);
            if (!v || v.deleted) continue;
            call.objectIds.push(`Patient/${pid}`);
            entry.push({
              fullUrl: `${base}/Patient/${pid}`,
              resource: withMeta(v),
              search: { mode: 'include' },
            });
          }
        }
      }
    }
    const link = [{ relation: 'self', url: linkUrl(base, type, self) }];
    if (page.next) {
      link.push({
        relation: 'next',
        url: linkUrl(base, type, [...self.filter(([n]) => n !== '_cursor'), ['_cursor', page.next]]),
      });
    }
    sendFhir(res, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      ...(total !== undefined ? { total } : {}),
      link,
      // FHIR JSON has no empty arrays: a page without matches has no `entry`.
      ...(entry.length ? { entry } : {}),
    });
  }

  // --- read, vread, history ----------------------------------------------------------------

  @Get(':type/:id/_history/:vid')
  async vread(
    @Param('type') type: string,
    @Param('id') id: string,
    @Param('vid') vid: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const call = await authenticate(this.deps, req, res, `${type}/${id}/_history/${vid}`);
    const pairs = queryPairs(req.originalUrl);
    checkFormat(pairs, req.headers.accept);
    this.onlyParams(pairs, []);
    this.knownType(type);
    this.checkId(id);
    if (!/^[1-9]\d{0,9}$/.test(vid))
      throw new FhirError(400, 'invalid', 'the version id is not a positive integer');
    await requireScope(this.deps, call, type, ['r']);
    const v = await this.deps.hub.vread(call.viewer, type, id, Number(vid));
    if (!v) throw new FhirError(404, 'not-found', `${type}/${id}/_history/${vid} is not known`);
    if (v.deleted) {
      throw new FhirError(410, 'deleted', `${type}/${id}/_history/${vid} is a deletion`, {
        headers: versionHeaders(v),
      });
    }
    call.objectIds.push(`${type}/${id}`);
    sendFhir(res, 200, withMeta(v), versionHeaders(v));
  }

  @Get(':type/:id/_history')
  async history(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const call = await authenticate(this.deps, req, res, `${type}/${id}/_history`);
    const pairs = queryPairs(req.originalUrl);
    checkFormat(pairs, req.headers.accept);
    this.onlyParams(pairs, ['_count', '_cursor']);
    this.knownType(type);
    this.checkId(id);
    await requireScope(this.deps, call, type, ['r']);
    const { options } = parseSearch(type, pairs, []);
    const page = await this.deps.hub.history(call.viewer, type, id, {
      count: options.count,
      ...(options.cursor ? { cursor: options.cursor } : {}),
    });
    if (page.versions.length === 0 && !options.cursor)
      throw new FhirError(404, 'not-found', `${type}/${id} is not known`);
    const base = fhirBaseOf(this.deps, req);
    const self = pairs.filter(([n]) => n !== '_format' && n !== '_pretty');
    const link = [{ relation: 'self', url: linkUrl(base, `${type}/${id}/_history`, self) }];
    if (page.next) {
      link.push({
        relation: 'next',
        url: linkUrl(base, `${type}/${id}/_history`, [
          ...self.filter(([n]) => n !== '_cursor'),
          ['_cursor', page.next],
        ]),
      });
    }
    call.objectIds.push(`${type}/${id}`);
    sendFhir(res, 200, {
      resourceType: 'Bundle',
      type: 'history',
      total: page.total,
      link,
      entry: page.versions.map((v) => ({
        fullUrl: `${base}/${type}/${id}`,
        ...(v.deleted ? {} : { resource: withMeta(v) }),
        request: {
          method: v.deleted ? 'DELETE' : v.versionId === 1 ? 'POST' : 'PUT',
          url: v.versionId === 1 && !v.deleted ? type : `${type}/${id}`,
        },
        response: {
          status: v.deleted ? '204' : v.versionId === 1 ? '201' : '200',
          etag: `W/"${v.versionId}"`,
          lastModified: v.lastUpdated,
        },
      })),
    });
  }

  @Get(':type/:id')
  async read(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const call = await authenticate(this.deps, req, res, `${type}/${id}`);
    const pairs = queryPairs(req.originalUrl);
    checkFormat(pairs, req.headers.accept);
    this.onlyParams(pairs, []);
    this.knownType(type);
    this.checkId(id);
    await requireScope(this.deps, call, type, ['r']);
    const v = await this.deps.hub.read(call.viewer, type, id);
    if (!v) throw new FhirError(404, 'not-found', `${type}/${id} is not known`);
    if (v.deleted) throw new FhirError(410, 'deleted', `${type}/${id} was deleted`);
    call.objectIds.push(`${type}/${id}`);
    const headers = versionHeaders(v);
    if (req.headers['if-none-match'] === headers.ETag) {
      for (const [k, val] of Object.entries(headers)) res.setHeader(k, val);
      res.status(304).end();
      return;
    }
    sendFhir(res, 200, withMeta(v), headers);
  }
}

/** Every other path or method under `/fhir/R4`: a 404 or 405 OperationOutcome. Registered last. */
@Controller('fhir/R4')
@UseFilters(OperationOutcomeFilter)
export class FhirFallbackController {
  constructor(@Inject(FHIR_DEPS) private readonly deps: FhirDeps) {}

  @All(['', '*path'])
  async fallback(@Req() req: Request): Promise<never> {
    const known = ['GET', 'HEAD'].includes(req.method);
    if (known) throw new FhirError(404, 'not-found', 'no such route under /fhir/R4');
    const call = callOf(req);
    if (call)
      await reportMisuse(
        this.deps,
        call.app,
        'unexpected_payload',
        `${req.method} ${call.path}: not supported`,
      );
    else if (req.headers.authorization) {
      const who = await this.deps.apps
        .authenticate(req.headers.authorization.replace(/^Bearer +/i, ''))
        .catch(() => undefined);
      if (who && 'kind' in who) {
        await reportMisuse(
          this.deps,
          who,
          'unexpected_payload',
          `${req.method} ${req.path.slice(FHIR_BASE.length + 1, 200)}: not supported`,
        );
      }
    }
    throw new FhirError(405, 'not-supported', `${req.method} is not supported here`);
  }
}
