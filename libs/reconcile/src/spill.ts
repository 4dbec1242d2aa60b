import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One record of one side in the comparison's compact form: its normalised identity, a hash of its
 * normalised compared fields, and the record as read (JSON), kept to report it when it differs.
 */
export interface SpillRow {
  key: string;
  hash: number;
  raw: string;
}

/** The default number of rows a side holds in memory before it writes a sorted run to disk. */
export const DEFAULT_MAX_IN_MEMORY = 200_000;

/** cyrb53: a fast 53-bit string hash (not cryptographic: it tells equal from different rows). */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const NEEDS_ESCAPE = /[\\\t\n\r]/;
function escapeKey(key: string): string {
  if (!NEEDS_ESCAPE.test(key)) return key;
  return key.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}
function unescapeKey(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\(.)/g, (_m, c: string) =>
    c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c,
  );
}

/** Ascending by key (UTF-16 code units: the same order in memory and on disk). */
function byKey(a: SpillRow, b: SpillRow): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** The lines of a file, read in large chunks. */
async function* lines(path: string): AsyncGenerator<string> {
  let rest = '';
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 18 });
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const text = rest + chunk;
      let start = 0;
      for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
        yield text.slice(start, nl);
        start = nl + 1;
      }
      rest = text.slice(start);
    }
    if (rest) yield rest;
  } finally {
    stream.destroy();
  }
}

async function* readRun(path: string): AsyncGenerator<SpillRow> {
  for await (const line of lines(path)) {
    const a = line.indexOf('\t');
    const b = line.indexOf('\t', a + 1);
    yield { key: unescapeKey(line.slice(0, a)), hash: Number(line.slice(a + 1, b)), raw: line.slice(b + 1) };
  }
}

async function* fromArray(rows: readonly SpillRow[]): AsyncGenerator<SpillRow> {
  for (const r of rows) yield r;
}

/**
 * Sorts one side's rows by key with bounded memory: rows are held up to `maxInMemory`, then
 * sorted and written to a run file under a temporary folder; `sorted()` merges the runs (k-way)
 * with the rows still in memory. Rows with the same key come out in the order they were added.
 * `cleanup()` removes the temporary folder; call it in a `finally`.
 */
export class SpillSorter {
  private buffer: SpillRow[] = [];
  private readonly runs: string[] = [];
  private dir: string | undefined;
  private readonly maxInMemory: number;

  constructor(private readonly options: { dir?: string; maxInMemory?: number; name?: string } = {}) {
    this.maxInMemory = Math.max(1, options.maxInMemory ?? DEFAULT_MAX_IN_MEMORY);
  }

  /** Run files written so far. */
  get spilledRuns(): number {
    return this.runs.length;
  }

  async add(row: SpillRow): Promise<void> {
    this.buffer.push(row);
    if (this.buffer.length >= this.maxInMemory) await this.spill();
  }

  private async spill(): Promise<void> {
    const rows = this.buffer.sort(byKey);
    this.buffer = [];
    this.dir ??= await mkdtemp(
      join(this.options.dir ?? tmpdir(), `sinew-reconcile-${this.options.name ?? 'side'}-`),
    );
    const path = join(this.dir, `run-${this.runs.length}.tsv`);
    this.runs.push(path);
    const handle = await open(path, 'w');
    try {
      let chunk: string[] = [];
      let size = 0;
      for (const r of rows) {
        const line = `${escapeKey(r.key)}\t${r.hash}\t${r.raw}\n`;
        chunk.push(line);
        size += line.length;
        if (size >= 1 << 20) {
          await handle.write(chunk.join(''));
          chunk = [];
          size = 0;
        }
      }
      if (chunk.length) await handle.write(chunk.join(''));
    } finally {
      await handle.close();
    }
  }

  /** Every row added, ascending by key; rows with equal keys in the order they were added. */
  async *sorted(): AsyncGenerator<SpillRow> {
    const memory = this.buffer.sort(byKey);
    this.buffer = [];
    if (this.runs.length === 0) {
      yield* memory;
      return;
    }
    // Sources in the order rows were added (runs first, then memory): ties go to the earlier.
    const sources: Array<AsyncGenerator<SpillRow>> = [...this.runs.map(readRun), fromArray(memory)];
    const heads: Array<SpillRow | undefined> = [];
    try {
      for (const s of sources) heads.push((await s.next()).value ?? undefined);
      // A binary heap of source indexes, ordered by head key then index.
      const heap: number[] = [];
      const less = (i: number, j: number) => {
        const a = heads[i] as SpillRow;
        const b = heads[j] as SpillRow;
        return a.key < b.key || (a.key === b.key && i < j);
      };
      const swap = (x: number, y: number) => {
        const t = heap[x] as number;
        heap[x] = heap[y] as number;
        heap[y] = t;
      };
      const up = (n: number) => {
        while (n > 0) {
          const p = (n - 1) >> 1;
          if (!less(heap[n] as number, heap[p] as number)) break;
          swap(n, p);
          n = p;
        }
      };
      const down = (n: number) => {
        for (;;) {
          const l = 2 * n + 1;
          const r = l + 1;
          let m = n;
          if (l < heap.length && less(heap[l] as number, heap[m] as number)) m = l;
          if (r < heap.length && less(heap[r] as number, heap[m] as number)) m = r;
          if (m === n) return;
          swap(n, m);
          n = m;
        }
      };
      heads.forEach((h, i) => {
        if (h) {
          heap.push(i);
          up(heap.length - 1);
        }
      });
      while (heap.length) {
        const i = heap[0] as number;
        yield heads[i] as SpillRow;
        const next = await (sources[i] as AsyncGenerator<SpillRow>).next();
        if (next.done) {
          heads[i] = undefined;
          const last = heap.pop() as number;
          if (heap.length) {
            heap[0] = last;
            down(0);
          }
        } else {
          heads[i] = next.value;
          down(0);
        }
      }
    } finally {
      await Promise.all(sources.map((s) => s.return(undefined)));
    }
  }

  /** Removes the run files. */
  async cleanup(): Promise<void> {
    this.buffer = [];
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.runs.length = 0;
  }
}
