import { Worker } from 'node:worker_threads';
import type { ContentType, PipelineResult } from '@sinew/store';
import type { ChannelEnvironment, CompiledChannel } from '@sinew/channels';
import type { EngineLogger } from './logger';

/** What a pipeline thread is started with (structured-cloned: plain data only). */
export interface PipelineWorkerData {
  /** The channel files as compiled by the main thread: each thread compiles them again. */
  channels: Array<{ text: string; file: string }>;
  env: ChannelEnvironment;
  transformerDirs: readonly string[];
}

export interface PipelineRequest {
  id: number;
  channelId: string;
  raw: Uint8Array;
  contentType: ContentType;
  /** The ledger's message id (MSH-10 of the HL7 messages transformers build). */
  messageId?: string;
}

export type PipelineReply =
  | { kind: 'ready' }
  | { kind: 'failed'; error: string }
  | { kind: 'result'; id: number; result: PipelineResult }
  | { kind: 'error'; id: number; error: string };

export interface PipelineThreadsOptions {
  /** The worker entry (dist/pipeline-worker.js beside the `sinew` bundle). */
  script: string;
  threads: number;
  channels: readonly CompiledChannel[];
  env: ChannelEnvironment;
  transformerDirs: readonly string[];
  logger: EngineLogger;
  /**
   * How long one message may run on a thread (default 30 s). A thread still running it then
   * is stopped and started again: its messages fail this attempt and are retried, and a
   * message that keeps stopping threads (a project function that never returns) ends
   * `errored` after the pipeline's attempts.
   */
  jobTimeoutMs?: number;
}

const JOB_TIMEOUT_MS = 30_000;

const YOUNG_GENERATION_MB = 8;

interface Pending {
  resolve: (result: PipelineResult) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

/** Bytes come back from a thread as plain Uint8Arrays: the ledger and connectors take Buffers. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function revive(result: PipelineResult): PipelineResult {
  if (result.transformed) result.transformed.body = asBuffer(result.transformed.body);
  if (result.ack) result.ack.bytes = asBuffer(result.ack.bytes);
  for (const d of result.deliveries) d.payload = asBuffer(d.payload);
  return result;
}

class PipelineThread {
  readonly pending = new Map<number, Pending>();
  private worker?: Worker;
  private starting?: Promise<Worker>;
  private closed = false;

  constructor(
    private readonly options: PipelineThreadsOptions,
    private readonly data: PipelineWorkerData,
  ) {}

  /** Starts the thread (again, after it died) and resolves once its pipelines are compiled. */
  start(): Promise<Worker> {
    if (this.closed) return Promise.reject(new Error('the pipeline threads are closed'));
    if (this.worker) return Promise.resolve(this.worker);
    this.starting ??= new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(this.options.script, {
        workerData: this.data,
        // A pipeline keeps almost nothing per message: a small young generation does (bench/e2e:
        // same throughput, peak RSS 242 MB instead of 278–345 MB with V8's default).
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      });
      let ready = false;
      worker.on('message', (reply: PipelineReply) => {
        if (reply.kind === 'ready') {
          ready = true;
          this.worker = worker;
          this.starting = undefined;
          resolve(worker);
        } else if (reply.kind === 'failed') {
          this.starting = undefined;
          reject(new Error(`pipeline thread did not start: ${reply.error}`));
          void worker.terminate();
        } else {
          const p = this.pending.get(reply.id);
          if (!p) return;
          this.pending.delete(reply.id);
          clearTimeout(p.timer);
          if (reply.kind === 'result') p.resolve(revive(reply.result));
          else p.reject(new Error(`pipeline thread: ${reply.error}`));
        }
      });
      worker.on('error', (err) => {
        if (!ready) {
          this.starting = undefined;
          reject(err);
        } else if (!this.closed) {
          this.options.logger.warn(
            { err: `${err.name}: ${err.message}` },
            'pipeline thread failed; it restarts',
          );
        }
      });
      worker.on('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        if (ready && !this.closed)
          this.options.logger.warn({ code }, 'pipeline thread exited; it restarts on the next message');
        if (!ready) {
          this.starting = undefined;
          reject(new Error(`pipeline thread exited with code ${code} before it was ready`));
        }
        // Jobs in the dead thread fail; the queue retries them (here or on a new thread).
        const why = this.stopped ?? `pipeline thread exited (code ${code})`;
        this.stopped = undefined;
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(why));
        }
        this.pending.clear();
      });
    });
    return this.starting;
  }

  async run(req: PipelineRequest): Promise<PipelineResult> {
    const worker = await this.start();
    const limit = this.options.jobTimeoutMs ?? JOB_TIMEOUT_MS;
    return new Promise<PipelineResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.has(req.id) || this.worker !== worker) return;
        this.stopped = `a message ran for more than ${limit} ms on its pipeline thread, which was stopped`;
        this.options.logger.warn(
          { channel: req.channelId, limitMs: limit },
          'a message ran too long on a pipeline thread; the thread is stopped and restarts',
        );
        void worker.terminate();
      }, limit);
      timer.unref();
      this.pending.set(req.id, { resolve, reject, timer });
      worker.postMessage(req);
    });
  }

  /** Why the thread was stopped, for the requests that fail with it. */
  private stopped?: string;

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker ?? (await this.starting?.catch(() => undefined));
    if (worker) await worker.terminate();
  }
}

/**
 * Runs channel pipelines (parse, filter, validate, map, encode) on worker threads, so that
 * the main thread's event loop keeps to sockets and the ledger. Each request goes to the
 * thread with the fewest requests under way. A thread that dies fails its requests (their
 * queue jobs are retried) and is started again on the next request.
 */
export class PipelineThreads {
  private readonly threads: PipelineThread[];
  private nextId = 1;

  /** The version (content hash) of each channel these threads compiled. */
  private readonly hashes: ReadonlyMap<string, string>;

  private constructor(options: PipelineThreadsOptions) {
    this.hashes = new Map(options.channels.map((c) => [c.id, c.hash]));
    const data: PipelineWorkerData = {
      channels: options.channels.map((c) => ({ text: c.text, file: c.file })),
      env: { ...options.env, values: { ...options.env.values }, strict: false },
      transformerDirs: options.transformerDirs,
    };
    this.threads = Array.from({ length: options.threads }, () => new PipelineThread(options, data));
  }

  /** Starts `threads` threads; rejects (after stopping them) when one cannot compile its pipelines. */
  static async start(options: PipelineThreadsOptions): Promise<PipelineThreads> {
    const pool = new PipelineThreads(options);
    try {
      await Promise.all(pool.threads.map((t) => t.start()));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Whether these threads run this version of the channel (not an older one). */
  runs(channel: CompiledChannel): boolean {
    return this.hashes.get(channel.id) === channel.hash;
  }

  get size(): number {
    return this.threads.length;
  }

  run(channelId: string, raw: Buffer, contentType: ContentType, messageId?: string): Promise<PipelineResult> {
    let best = this.threads[0] as PipelineThread;
    for (const t of this.threads) if (t.pending.size < best.pending.size) best = t;
    // A copy of just these bytes: posting a Buffer would copy all the memory it views.
    return best.run({
      id: this.nextId++,
      channelId,
      raw: new Uint8Array(raw),
      contentType,
      ...(messageId !== undefined ? { messageId } : {}),
    });
  }

  /** Requests under way on every thread. */
  get pending(): number {
    return this.threads.reduce((n, t) => n + t.pending.size, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }

  /** Closes once the requests under way have finished (a redeploy retiring this pool). */
  async retire(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await this.close();
  }
}
