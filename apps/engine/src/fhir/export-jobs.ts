import type { HubExportRequest, HubReader, HubViewer } from '@sinew/hub';
import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';

/** A bulk export as it is kept on disk (`<dataDir>/fhir-export/<id>/job.json`), beside its NDJSON files. */
export interface ExportJob {
  id: string;
  appId: string;
  environment: HubViewer['environment'];
  state: 'running' | 'completed' | 'failed';
  /** The kick-off request's URL, as the manifest's `request`. */
  request: string;
  /** ISO instant the export started: the manifest's `transactionTime`. */
  transactionTime: string;
  types: string[];
  /** Resources written so far. */
  written: number;
  /** Per type: its file's name and how many resources it holds. */
  output: Array<{ type: string; file: string; count: number }>;
  /** Why it failed (no content). */
  failure?: string;
  finishedAt?: string;
}

const JOB_ID = /^[0-9a-f-]{36}$/;
const FILE_NAME = /^[A-Z][A-Za-z]{1,63}\.ndjson$/;

/**
 * Bulk exports: each runs in this process and writes one NDJSON file per resource type under
 * its own owner-only folder; its state is kept in that folder's `job.json` so a finished
 * export's manifest survives a restart. An export still running when the process stopped is
 * reported as failed (start it again).
 */
export class ExportJobs {
  private readonly running = new Map<string, { abort: AbortController; job: ExportJob }>();
  private readonly root: string;

  constructor(
    private readonly hub: HubReader,
    dataDir: string,
    private readonly onFailure: (jobId: string, err: unknown) => void = () => undefined,
  ) {
    this.root = join(dataDir, 'fhir-export');
  }

  private dir(id: string): string {
    return join(this.root, id);
  }

  private async save(job: ExportJob): Promise<void> {
    const path = join(this.dir(job.id), 'job.json');
    const tmp = `${path}.tmp`;
    await writeFile(tmp, JSON.stringify(job), { mode: 0o600 });
    await rename(tmp, path);
  }

  /** Starts an export for the viewer; resolves once its job is recorded. */
  async start(
    viewer: Required<HubViewer>,
    request: string,
    what: HubExportRequest & { types: string[] },
  ): Promise<ExportJob> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700);
    const job: ExportJob = {
      id: randomUUID(),
      appId: viewer.appId,
      environment: viewer.environment,
      state: 'running',
      request,
      transactionTime: new Date().toISOString(),
      types: [...what.types],
      written: 0,
      output: [],
    };
    await mkdir(this.dir(job.id), { mode: 0o700 });
    await this.save(job);
    const abort = new AbortController();
    this.running.set(job.id, { abort, job });
    void this.run(job, viewer, what, abort.signal).finally(() => this.running.delete(job.id));
    return job;
  }

  private async run(
    job: ExportJob,
    viewer: HubViewer,
    what: HubExportRequest,
    signal: AbortSignal,
  ): Promise<void> {
    const streams = new Map<string, { stream: WriteStream; count: number; file: string }>();
    const allowed = new Set(job.types);
    let failure: unknown;
    try {
      for await (const resource of this.hub.exportResources(viewer, what)) {
        if (signal.aborted) break;
        if (!allowed.has(resource.resourceType)) continue;
        let out = streams.get(resource.resourceType);
        if (!out) {
          const file = `${resource.resourceType}.ndjson`;
          const stream = createWriteStream(join(this.dir(job.id), file), { mode: 0o600, flags: 'wx' });
          stream.on('error', (err) => {
            failure ??= err;
          });
          out = { stream, count: 0, file };
          streams.set(resource.resourceType, out);
        }
        if (!out.stream.write(`${JSON.stringify(resource)}\n`)) await once(out.stream, 'drain');
        out.count++;
        job.written++;
        if (failure) throw failure;
      }
      for (const { stream } of streams.values()) {
        if (failure) throw failure;
        stream.end();
        await once(stream, 'finish');
      }
      if (signal.aborted) return;
      const output = [...streams.entries()]
        .map(([type, s]) => ({ type, file: s.file, count: s.count }))
        .sort((a, b) => job.types.indexOf(a.type) - job.types.indexOf(b.type));
      await this.finish(job, { state: 'completed', output }, signal);
    } catch (err) {
      for (const { stream } of streams.values()) stream.destroy();
      if (signal.aborted) return;
      this.onFailure(job.id, err);
      await this.finish(job, { state: 'failed', failure: 'the export failed; start it again' }, signal);
    }
  }

  /**
   * Records how the job ended, on disk first: status requests see it running until then, so
   * a manifest once answered is one a restart finds again.
   */
  private async finish(job: ExportJob, end: Partial<ExportJob>, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const done: ExportJob = { ...job, ...end, finishedAt: new Date().toISOString() };
    try {
      await this.save(done);
      Object.assign(job, done);
    } catch (err) {
      this.onFailure(job.id, err);
      Object.assign(job, { state: 'failed', failure: 'the export could not be recorded; start it again' });
    }
  }

  /** The app's job; undefined when there is none (or it is another app's). */
  async get(id: string, appId: string): Promise<ExportJob | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const live = this.running.get(id)?.job;
    if (live) return live.appId === appId ? { ...live } : undefined;
    let job: ExportJob;
    try {
      job = JSON.parse(await readFile(join(this.dir(id), 'job.json'), 'utf8')) as ExportJob;
    } catch {
      return undefined;
    }
    if (job.appId !== appId) return undefined;
    // Still `running` on disk while this process runs no such export: it was cut short by a stop.
    if (job.state === 'running') {
      job.state = 'failed';
      job.failure = 'the export was interrupted when Sinew stopped; start it again';
    }
    return job;
  }

  /** Cancels the app's job and removes its files; false when there is none. */
  async cancel(id: string, appId: string): Promise<boolean> {
    const job = await this.get(id, appId);
    if (!job) return false;
    const running = this.running.get(id);
    if (running) {
      running.abort.abort();
      this.running.delete(id);
    }
    await rm(this.dir(id), { recursive: true, force: true });
    return true;
  }

  /** The path of one of a completed job's files; undefined when it has no such file. */
  async file(id: string, appId: string, name: string): Promise<string | undefined> {
    if (!FILE_NAME.test(name)) return undefined;
    const job = await this.get(id, appId);
    if (!job || job.state !== 'completed' || !job.output.some((o) => o.file === name)) return undefined;
    return join(this.dir(id), name);
  }

  /** Stops the running exports (on shutdown). */
  close(): void {
    for (const r of this.running.values()) r.abort.abort();
    this.running.clear();
  }
}
