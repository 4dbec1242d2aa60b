/**
 * The entry of a pipeline thread (bundled as dist/pipeline-worker.js). It compiles the
 * channels' pipelines from the same transformer folders as the main thread, then answers
 * each request with the pipeline's result. It reads and writes nothing else: the ledger, the
 * queue and the sockets stay on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compileChannel, formatProblem } from '@sinew/channels';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { MappingError, TransformerLibrary } from '@sinew/mapping';
import type { PipelineResult } from '@sinew/store';
import { ChannelPipeline } from './pipeline';
import type { PipelineReply, PipelineRequest, PipelineWorkerData } from './pipeline-threads';

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('the pipeline worker runs as a worker thread only');
  const data = workerData as PipelineWorkerData;
  let pipelines: Map<string, ChannelPipeline>;
  try {
    const library = TransformerLibrary.load([...data.transformerDirs]);
    const registries = { sources: SOURCES, destinations: DESTINATIONS, transformers: library };
    pipelines = new Map(
      data.channels.map((c) => {
        const r = compileChannel(c.text, c.file, registries, { env: data.env, checkFiles: false });
        if (!r.channel) throw new Error(r.problems.map(formatProblem).join('\n'));
        return [r.channel.id, new ChannelPipeline(r.channel)];
      }),
    );
  } catch (err) {
    port.postMessage({ kind: 'failed', error: describe(err) } satisfies PipelineReply);
    return;
  }
  port.on('message', (req: PipelineRequest) => {
    const pipeline = pipelines.get(req.channelId);
    let reply: PipelineReply;
    if (!pipeline) reply = { kind: 'error', id: req.id, error: `no channel ${req.channelId} in this thread` };
    else {
      try {
        const raw = Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
        reply = {
          kind: 'result',
          id: req.id,
          result: compact(pipeline.run(raw, req.contentType, undefined, req.messageId)),
        };
      } catch (err) {
        reply = { kind: 'error', id: req.id, error: describe(err) };
      }
    }
    port.postMessage(reply);
  });
  port.postMessage({ kind: 'ready' } satisfies PipelineReply);
}

/**
 * Posting a Buffer copies the whole memory it views, which for a small one is Node's shared
 * 8 KiB pool: each is replaced by a copy of its own bytes (once per Buffer, so a payload
 * that is also the transformed content still crosses once).
 */
function compact(result: PipelineResult): PipelineResult {
  const copies = new Map<Uint8Array, Uint8Array>();
  const own = (bytes: Uint8Array): Uint8Array => {
    if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes;
    let copy = copies.get(bytes);
    if (!copy) {
      copy = new Uint8Array(bytes);
      copies.set(bytes, copy);
    }
    return copy;
  };
  if (result.transformed) result.transformed.body = own(result.transformed.body) as Buffer;
  if (result.ack) result.ack.bytes = own(result.ack.bytes) as Buffer;
  for (const d of result.deliveries) d.payload = own(d.payload) as Buffer;
  return result;
}

function describe(err: unknown): string {
  // A transformer that does not compile says where (file:line:col).
  if (err instanceof MappingError) return err.toString();
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

main();
