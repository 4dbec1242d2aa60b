import { Controller, HttpCode, Inject, Res, UseGuards } from '@nestjs/common';
import { hasScope, mayUseChannel, type Principal } from '@sinew/auth';
import {
  compileChannel,
  hasErrors,
  lintPaths,
  loadEnvironment,
  maskSecrets,
  sortProblems,
  type LintProblem,
} from '@sinew/channels';
import { shadowRun, type MessageDiff, type ShadowTotals } from '@sinew/engine';
import type { DeploymentRecord } from '@sinew/store';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Response } from 'express';
import { z } from 'zod';
import { unifiedDiff, utcSecond } from './channel-ops-diff';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps, type FolderDeploy } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import { idParam } from './schemas';

/** A channel or transformer file's text may be this long (the request body is limited too). */
const MAX_FILE = 256 * 1024;
/** Files per lint request. */
const MAX_FILES = 200;
/** Messages a shadow run reads by default, and at most. */
const SHADOW_DEFAULT_LIMIT = 1_000;
const SHADOW_MAX_LIMIT = 10_000;
/** Changed messages a shadow answer lists (the totals count them all). */
const SHADOW_MAX_CHANGES = 200;
/** Field differences listed per destination. */
const SHADOW_MAX_FIELDS = 50;
/** Values of variables shorter than this are not masked in findings (they are not secrets). */
const MIN_MASKED = 4;

const problem = z.object({
  file: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  severity: z.enum(['error', 'warning']),
  code: z.string(),
  path: z.string().describe('Where in the document (`destinations.0.url`); empty for the whole file'),
  message: z.string(),
});
type ProblemOut = z.output<typeof problem>;

const lintBody = z.strictObject({
  files: z
    .array(
      z.strictObject({
        name: z
          .string()
          .min(1)
          .max(300)
          .regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters')
          .describe('How findings name the file (`channels/lab.yaml`); *.test.yaml files are skipped'),
        content: z.string().max(MAX_FILE).describe('The file’s text'),
      }),
    )
    .min(1)
    .max(MAX_FILES),
});

const lintResponse = z.object({
  problems: z.array(problem).describe('Every finding, by file, line and column'),
  errors: z.number().int(),
  warnings: z.number().int(),
  files: z.number().int().describe('Files checked'),
});

const deployedChannel = z.object({
  id: z.string(),
  change: z.enum(['added', 'changed', 'unchanged']),
  version: z.number().int().optional().describe('The version now deployed'),
  deployed_by: z.string().optional(),
  content_hash: z.string().optional(),
});

const deployReport = z.object({
  channels: z.array(deployedChannel).describe('Every channel the folder deploys, by id'),
  added: z.array(z.string()),
  changed: z.array(z.string()),
  removed: z.array(z.string()),
  unchanged: z.array(z.string()),
  kept_sources: z
    .array(z.string())
    .describe('Changed channels whose source kept its socket (connected senders saw nothing)'),
  problems: z.array(problem).describe('The folder’s warnings'),
});
type DeployReportOut = z.output<typeof deployReport>;

const rollbackResponse = deployReport.extend({
  rolled_back_to: z.number().int().describe('The version whose text the channel file holds again'),
  file_written: z.boolean().describe('False when the file already held that text'),
});

const deploymentDetail = z.object({
  channel: z.string(),
  version: z.number().int(),
  outcome: z.enum(['deployed', 'refused']),
  deployed_at: z.string(),
  deployed_by: z.string(),
  content_hash: z.string(),
  file_path: z.string(),
  git_commit: z.string().optional(),
  problems: z.array(
    z.object({
      line: z.number().int().optional(),
      column: z.number().int().optional(),
      level: z.string().optional(),
      code: z.string().optional(),
      path: z.string().optional(),
      message: z.string(),
    }),
  ),
  content: z.string().describe('The file’s text as deployed (`${VAR}` references, not their values)'),
  against: z
    .object({ version: z.number().int(), deployed_at: z.string(), file_path: z.string() })
    .optional()
    .describe('The version the diff starts from'),
  diff: z.string().describe('Unified diff from `against` to this version; empty when the same'),
});

const versionPath = z.strictObject({
  id: idParam,
  version: z.coerce.number().int().min(1).max(2_147_483_647).describe('Deployment version'),
});

const shadowBody = z.strictObject({
  content: z.string().min(1).max(MAX_FILE).describe('The candidate channel file’s text'),
  limit: z
    .number()
    .int()
    .min(1)
    .max(SHADOW_MAX_LIMIT)
    .optional()
    .describe(`At most this many stored messages, newest first (default ${SHADOW_DEFAULT_LIMIT})`),
  since: z.iso.datetime({ offset: true }).optional().describe('From (default: 24 hours ago)'),
  until: z.iso.datetime({ offset: true }).optional().describe('Up to (default: now)'),
});

const fieldChange = z.object({
  path: z.string().describe('HL7 path or JSON pointer'),
  before: z.string().optional().describe('phi:read only'),
  after: z.string().optional().describe('phi:read only'),
});

const shadowChange = z.object({
  id: z.string(),
  received_at: z.string(),
  message_type: z.string().optional(),
  stored: z.string().describe('The status the ledger recorded'),
  candidate: z.string().describe('The candidate pipeline’s status'),
  outcome: z.enum(['changed', 'filtered', 'rejected', 'errored']),
  issue: z
    .object({ step: z.string().optional(), code: z.string(), message: z.string().optional() })
    .optional()
    .describe('The candidate’s first error (its message with phi:read only)'),
  destinations: z.array(
    z.object({
      destination: z.string(),
      change: z.enum(['added', 'removed', 'changed']),
      fields: z.array(fieldChange),
      more_fields: z.number().int().optional(),
    }),
  ),
});

const shadowResponse = z.object({
  channel: z.string(),
  candidate: z.string().describe('The candidate’s channel id'),
  totals: z.object({
    messages: z.number().int(),
    unchanged: z.number().int(),
    changed: z.number().int(),
    filtered: z.number().int(),
    rejected: z.number().int(),
    errored: z.number().int(),
    skipped: z.number().int(),
    destinations_added: z.number().int(),
    destinations_removed: z.number().int(),
  }),
  changes: z.array(shadowChange).describe(`The first ${SHADOW_MAX_CHANGES} changed messages, newest first`),
  truncated: z.boolean().describe('More messages changed than are listed'),
});
type ShadowChangeOut = z.output<typeof shadowChange>;

const idPath = z.strictObject({ id: idParam });

function problemOut(p: LintProblem): ProblemOut {
  return {
    file: p.file,
    line: p.line,
    column: p.column,
    severity: p.severity,
    code: p.code,
    path: p.path,
    message: p.message,
  };
}

/** A folder that did not compile: 422 with its findings (RFC 9457 extension member `problems`). */
function refused(detail: string, problems: readonly LintProblem[]): ApiProblem {
  const body = {
    status: 422,
    code: 'channels.invalid',
    detail,
    problems: sortProblems([...problems]).map(problemOut),
  };
  return new ApiProblem(body);
}

/** Replaces the file's content at once (the engine never reads half of it), keeping its mode. */
function writeAtomically(path: string, text: string): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, text, 'utf8');
    if (existsSync(path)) chmodSync(temporary, statSync(path).mode & 0o7777);
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}

function inside(dir: string, path: string): boolean {
  const r = relative(dir, path);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}

/** Deploys and rollbacks of this process, one at a time (a rollback writes, deploys, may restore). */
let serial: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(work: () => Promise<T>): Promise<T> {
  const run = serial.then(work);
  serial = run.catch(() => undefined);
  return run;
}

/**
 * The channel compiler's operations over the API: lint submitted files, redeploy the engine's
 * channel folder, read a version with its diff, roll back, and shadow-run a candidate.
 */
@Controller()
@UseGuards(ApiGuard)
export class ChannelOpsController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  @HttpCode(200)
  @ApiRoute({
    method: 'POST',
    path: '/api/v1/channels/lint',
    operationId: 'lintChannels',
    summary:
      'Lint channel and transformer files against the engine’s connectors, transformers and environment',
    description:
      'What `sinew lint --env` with the engine’s environment reports: one finding per problem with its exact line and column. Nothing is deployed. Unset `${VAR}` references are errors, as the engine’s deploy takes them; the values of referenced variables and secrets never appear in a finding.',
    tag: 'Channels',
    scope: 'channels:read',
    body: lintBody,
    response: lintResponse,
  })
  lint(@Input('body') b: z.output<typeof lintBody>): z.output<typeof lintResponse> {
    const registries = this.registries();
    const env = loadEnvironment(process.env);
    const dir = mkdtempSync(join(tmpdir(), 'sinew-lint-'));
    try {
      chmodSync(dir, 0o700);
      const names = new Map<string, string>();
      const paths: string[] = [];
      b.files.forEach((f, i) => {
        if (/\.test\.ya?ml$/.test(f.name)) return;
        const path = join(dir, `${i}.yaml`);
        writeFileSync(path, f.content, { encoding: 'utf8', mode: 0o600 });
        names.set(path, f.name);
        paths.push(path);
      });
      const report = lintPaths(paths, {
        connectors: { sources: registries.sources, destinations: registries.destinations },
        env,
        transformerDirs: this.deps.transformerDirs ?? [],
        displayPath: (p) => names.get(p) ?? p,
      });
      // Values the submitted files reference are the engine's: never shown to the caller.
      const referenced = new Set<string>();
      for (const f of b.files)
        for (const m of f.content.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) {
          const v = env.values[m[1] as string];
          if (v !== undefined && v.length >= MIN_MASKED) referenced.add(v);
        }
      const unname = (text: string) => {
        let out = text;
        for (const [path, name] of names) out = out.split(path).join(name);
        return out.split(dir).join('(submitted)');
      };
      const problems = report.problems.map((p) => ({
        ...problemOut(p),
        file: unname(p.file),
        message: maskSecrets(unname(p.message), referenced),
      }));
      const errors = problems.filter((p) => p.severity === 'error').length;
      return { problems, errors, warnings: problems.length - errors, files: report.files };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  @HttpCode(200)
  @ApiRoute({
    method: 'POST',
    path: '/api/v1/channels/deploy',
    operationId: 'deployChannels',
    summary: 'Redeploy the engine’s channel folder: what changed, without a restart',
    description:
      'What `sinew deploy` and SIGHUP do: the folder is compiled; with an error nothing changes and the answer is 422 with the findings (`problems`); otherwise added and changed channels are deployed, removed ones stopped, and a source whose listen address did not change keeps its socket. The ledger records each new version as deployed by this user or key.',
    tag: 'Channels',
    scope: 'channels:write',
    response: deployReport,
    errors: [422, 503],
  })
  async deploy(@Ctx() c: ApiContext): Promise<DeployReportOut> {
    const result = await oneAtATime(() => this.reload(c));
    return this.report(result, c);
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/channels/{id}/deployments/{version}',
    operationId: 'getDeployment',
    summary: 'One deployed version of a channel: its text and a diff',
    description:
      'The file’s text as it was deployed (with its `${VAR}` references, secrets masked) and a unified diff from the previous deployed version, or from `against`, as `sinew history --diff` prints it.',
    tag: 'Channels',
    scope: 'channels:read',
    params: versionPath,
    query: z.strictObject({
      against: z.coerce
        .number()
        .int()
        .min(1)
        .max(2_147_483_647)
        .optional()
        .describe('Diff from this version (default: the previous deployed one)'),
    }),
    response: deploymentDetail,
    errors: [404],
  })
  async deployment(
    @Input('params') p: z.output<typeof versionPath>,
    @Input('query') q: { against?: number },
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof deploymentDetail>> {
    this.mayUse(p.id, c);
    const { store } = this.deps;
    const record = await store.getDeployment(p.id, p.version);
    if (!record)
      throw new ApiProblem({
        status: 404,
        code: 'deployment.not_found',
        detail: `channel ${p.id} has no version ${p.version}`,
      });
    let against: DeploymentRecord | undefined;
    if (q.against !== undefined) {
      against = await store.getDeployment(p.id, q.against);
      if (!against)
        throw new ApiProblem({
          status: 404,
          code: 'deployment.not_found',
          detail: `channel ${p.id} has no version ${q.against}`,
        });
    } else {
      for (let v = p.version - 1; v >= 1 && !against; v--) {
        const earlier = await store.getDeployment(p.id, v);
        if (earlier?.outcome === 'deployed') against = earlier;
      }
    }
    const mask = (text: string) => maskSecrets(text, this.deps.engine.channel(p.id)?.secrets ?? new Set());
    const diff = against
      ? unifiedDiff(against.content, record.content, {
          from: `${against.filePath} (version ${against.version}, ${utcSecond(against.deployedAt)})`,
          to: `${record.filePath} (version ${record.version}, ${utcSecond(record.deployedAt)})`,
        })
      : '';
    return {
      channel: p.id,
      version: record.version,
      outcome: record.outcome,
      deployed_at: record.deployedAt.toISOString(),
      deployed_by: record.deployedBy,
      content_hash: record.contentHash,
      file_path: record.filePath,
      ...(record.gitCommit ? { git_commit: record.gitCommit } : {}),
      problems: record.problems.map((x) => ({
        ...(x.line !== undefined ? { line: x.line } : {}),
        ...(x.column !== undefined ? { column: x.column } : {}),
        ...(x.level ? { level: x.level } : {}),
        ...(x.code ? { code: x.code } : {}),
        ...(x.path ? { path: x.path } : {}),
        message: mask(x.message),
      })),
      content: mask(record.content),
      ...(against
        ? {
            against: {
              version: against.version,
              deployed_at: against.deployedAt.toISOString(),
              file_path: against.filePath,
            },
          }
        : {}),
      diff: mask(diff),
    };
  }

  @HttpCode(200)
  @ApiRoute({
    method: 'POST',
    path: '/api/v1/channels/{id}/rollback',
    operationId: 'rollbackChannel',
    summary: 'Put an earlier version back: its text into the channel’s file, then redeploy',
    description:
      'What `sinew rollback --to VERSION` does with a running engine: the channel’s file in the engine’s channel folder gets that version’s text and the folder is redeployed. When the folder then does not compile (another file has an error, or an environment value that version needs is gone) the file gets its text back, nothing changes, and the answer is 422 with the findings.',
    tag: 'Channels',
    scope: 'channels:write',
    params: idPath,
    body: z.strictObject({
      version: z.number().int().min(1).max(2_147_483_647).describe('The version to go back to'),
    }),
    response: rollbackResponse,
    errors: [404, 409, 422, 503],
  })
  async rollback(
    @Input('params') p: { id: string },
    @Input('body') b: { version: number },
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof rollbackResponse>> {
    this.mayUse(p.id, c);
    const { store, engine } = this.deps;
    const target = await store.getDeployment(p.id, b.version);
    if (!target)
      throw new ApiProblem({
        status: 404,
        code: 'deployment.not_found',
        detail: `channel ${p.id} has no version ${b.version}`,
      });
    if (target.outcome !== 'deployed')
      throw new ApiProblem({
        status: 409,
        code: 'deployment.refused',
        detail: `version ${b.version} of ${p.id} was refused; go back to a deployed version`,
      });
    return oneAtATime(async () => {
      const running = engine.channel(p.id);
      const [latest] = await store.listDeployments(p.id, 1);
      const folder = this.deps.channelsDir;
      const path = running ? resolve(running.file) : latest ? resolve(latest.filePath) : undefined;
      if (!folder || !path || !inside(folder, path) || !existsSync(path))
        throw new ApiProblem({
          status: 409,
          code: 'channel.file_missing',
          detail: `the file of channel ${p.id} is not in the engine's channel folder (moved or removed?); use sinew rollback --file on the engine's host`,
        });
      const before = readFileSync(path, 'utf8');
      const write = before !== target.content;
      if (write) writeAtomically(path, target.content);
      let result: FolderDeploy;
      try {
        result = await this.reload(c);
      } catch (err) {
        if (write) writeAtomically(path, before);
        throw err;
      }
      if (!result.report && write) writeAtomically(path, before);
      const report = await this.report(result, c);
      return { ...report, rolled_back_to: b.version, file_written: write };
    });
  }

  @HttpCode(200)
  @ApiRoute({
    method: 'POST',
    path: '/api/v1/channels/{id}/shadow',
    operationId: 'shadowChannel',
    summary: 'Shadow run: what a candidate channel text would do with the stored messages',
    description: `What \`sinew diff\` does: the channel’s stored messages (newest first, at most \`limit\`, default ${SHADOW_DEFAULT_LIMIT}, at most ${SHADOW_MAX_LIMIT}) run through the candidate’s pipeline in memory; nothing is delivered and nothing is written. Field values (before → after) and error messages are message content: they are answered with the phi:read scope only.`,
    tag: 'Channels',
    scope: 'channels:write',
    params: idPath,
    body: shadowBody,
    response: shadowResponse,
    errors: [404, 422, 503],
  })
  async shadow(
    @Input('params') p: { id: string },
    @Input('body') b: z.output<typeof shadowBody>,
    @Ctx() c: ApiContext,
    @Res({ passthrough: true }) res: Response,
  ): Promise<z.output<typeof shadowResponse>> {
    this.mayUse(p.id, c);
    const { store, engine } = this.deps;
    if (!engine.channel(p.id) && !(await store.latestDeployment(p.id)))
      throw new ApiProblem({ status: 404, code: 'channel.not_found', detail: `no channel ${p.id}` });
    const compiled = compileChannel(b.content, 'candidate.yaml', this.registries(), {
      env: loadEnvironment(process.env),
      checkFiles: false,
    });
    if (!compiled.channel || hasErrors(compiled.problems))
      throw refused(
        'the candidate does not compile',
        compiled.problems.filter((x) => x.severity === 'error'),
      );
    const phi = hasScope(c.principal as Principal, 'phi:read');
    // A caller that went away stops the run before the next message.
    const stop = new AbortController();
    const gone = () => {
      if (!res.writableEnded) stop.abort();
    };
    res.on('close', gone);
    const changes: ShadowChangeOut[] = [];
    let total = 0;
    const totals: ShadowTotals = await shadowRun({
      store,
      channelId: p.id,
      candidate: compiled.channel,
      since: b.since ? new Date(b.since) : new Date(Date.now() - 24 * 3600_000),
      ...(b.until ? { until: new Date(b.until) } : {}),
      limit: b.limit ?? SHADOW_DEFAULT_LIMIT,
      signal: stop.signal,
      onDiff: (d) => {
        total++;
        if (changes.length < SHADOW_MAX_CHANGES) changes.push(shadowChangeOut(d, phi));
      },
    }).finally(() => res.off('close', gone));
    if (phi && changes.length > 0) c.contentRead = true;
    return {
      channel: p.id,
      candidate: compiled.channel.id,
      totals: {
        messages: totals.messages,
        unchanged: totals.unchanged,
        changed: totals.changed,
        filtered: totals.filtered,
        rejected: totals.rejected,
        errored: totals.errored,
        skipped: totals.skipped,
        destinations_added: totals.destinationsAdded,
        destinations_removed: totals.destinationsRemoved,
      },
      changes,
      truncated: total > changes.length,
    };
  }

  private registries() {
    const r = this.deps.registries;
    if (!r)
      throw new ApiProblem({
        status: 503,
        code: 'channels.unavailable',
        detail: 'this process does not compile channels',
      });
    return r;
  }

  private mayUse(id: string, c: ApiContext): void {
    if (!mayUseChannel(c.principal as Principal, id))
      throw new ApiProblem({ status: 404, code: 'channel.not_found', detail: `no channel ${id}` });
    c.objectIds.push(id);
  }

  private reload(c: ApiContext): Promise<FolderDeploy> {
    const reload = this.deps.reload;
    if (!reload)
      throw new ApiProblem({
        status: 503,
        code: 'deploy.unavailable',
        detail: 'the engine is not running its channels yet',
      });
    const p = c.principal as Principal;
    const by = `${p.kind}:${p.name}`;
    return reload(by).catch((err: unknown) => {
      // The folder compiled, and a connector did not start (a port taken, a peer refused).
      this.deps.logger.error(
        { by, err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) },
        'deploy through the admin API failed',
      );
      throw new ApiProblem({
        status: 500,
        code: 'deploy.failed',
        detail: 'the channels compiled but the deploy failed; the engine’s log says why',
      });
    });
  }

  /** The deploy report as answered, or the refusal (422 with the findings). */
  private async report(result: FolderDeploy, c: ApiContext): Promise<DeployReportOut> {
    const r = result.report;
    if (!r) {
      if (result.problems.length === 0)
        throw new ApiProblem({
          status: 422,
          code: 'channels.invalid',
          detail: 'the channel folder could not be compiled (see the engine’s log); nothing changed',
        });
      throw refused(
        'the channel folder has errors; nothing was deployed',
        result.problems.filter((x) => x.severity === 'error'),
      );
    }
    const channels: Array<z.output<typeof deployedChannel>> = [];
    const changes: Array<[string[], 'added' | 'changed' | 'unchanged']> = [
      [r.added, 'added'],
      [r.changed, 'changed'],
      [r.unchanged, 'unchanged'],
    ];
    for (const [ids, change] of changes)
      for (const id of ids) {
        const latest = await this.deps.store.latestDeployment(id);
        channels.push({
          id,
          change,
          ...(latest
            ? { version: latest.version, deployed_by: latest.deployedBy, content_hash: latest.contentHash }
            : {}),
        });
      }
    channels.sort((a, b) => a.id.localeCompare(b.id));
    c.objectIds.push(...r.added, ...r.changed, ...r.removed);
    return {
      channels,
      added: r.added,
      changed: r.changed,
      removed: r.removed,
      unchanged: r.unchanged,
      kept_sources: r.keptSources,
      problems: sortProblems([...result.problems]).map(problemOut),
    };
  }
}

function shadowChangeOut(d: MessageDiff, phi: boolean): ShadowChangeOut {
  return {
    id: d.id,
    received_at: d.receivedAt.toISOString(),
    ...(d.messageType ? { message_type: d.messageType } : {}),
    stored: d.stored,
    candidate: d.candidate,
    outcome: d.outcome,
    ...(d.issue
      ? {
          issue: {
            ...(d.issue.step ? { step: d.issue.step } : {}),
            code: d.issue.code,
            ...(phi ? { message: d.issue.message } : {}),
          },
        }
      : {}),
    destinations: d.destinations.map((x) => ({
      destination: x.destination,
      change: x.change,
      fields: x.fields.slice(0, SHADOW_MAX_FIELDS).map((f) => ({
        path: f.path,
        ...(phi && f.before !== undefined ? { before: f.before } : {}),
        ...(phi && f.after !== undefined ? { after: f.after } : {}),
      })),
      ...(x.fields.length > SHADOW_MAX_FIELDS ? { more_fields: x.fields.length - SHADOW_MAX_FIELDS } : {}),
    })),
  };
}
