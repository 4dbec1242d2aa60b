import { closeSync, createReadStream, mkdtempSync, openSync, readSync, writeSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One record of one side in the comparison's compact form: its normalised identity, a hash of its
 * normalised compared fields (those without a tolerance), the normalised values of the fields with
 * one, and where the record as read (JSON) sits in its side's record file, to report it when it
 * differs.
 */
export interface SpillRow {
  key: string;
  hash: number;
  /** The normalised values of the fields with a tolerance (near values must still compare equal). */
  tolerant: string;
  /** Byte offset and length of the record (JSON) in the side's record file. */
  offset: number;
  length: number;
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

/**
 * hash53 of `texts.join(separator)`, computed without building the joined text (one record's
 * values are hashed per record read).
 */
export function hash53Joined(texts: readonly string[], separator: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let t = 0; t < texts.length; t++) {
    if (t > 0)
      for (let i = 0; i < separator.length; i++) {
        const ch = separator.charCodeAt(i);
        h1 = Math.imul(h1 ^ ch, 2654435761);
        h2 = Math.imul(h2 ^ ch, 1597334677);
      }
    const text = texts[t] as string;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const NEEDS_ESCAPE = /[\\\t\n\r]/;
function escapeText(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}
function unescapeText(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\(.)/g, (_m, c: string) =>
    c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c,
  );
}

/** Bytes encoded before each write of a run file. */
const SPILL_BUFFER = 1 << 22;

/** Rows per batch handed from one stage to the next (stages await once per batch, not per row). */
const BATCH = 4096;

/** A run file's rows, in batches of the lines of each chunk read. */
async function* readRun(path: string): AsyncGenerator<SpillRow[]> {
  let rest = '';
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 16 });
  const parse = (line: string): SpillRow => {
    const a = line.indexOf('\t');
    const b = line.indexOf('\t', a + 1);
    const c = line.indexOf('\t', b + 1);
    const d = line.indexOf('\t', c + 1);
    return {
      key: unescapeText(line.slice(0, a)),
      hash: Number(line.slice(a + 1, b)),
      tolerant: unescapeText(line.slice(b + 1, c)),
      offset: Number(line.slice(c + 1, d)),
      length: Number(line.slice(d + 1)),
    };
  };
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const text = rest + chunk;
      const rows: SpillRow[] = [];
      let start = 0;
      for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
        rows.push(parse(text.slice(start, nl)));
        start = nl + 1;
      }
      rest = text.slice(start);
      if (rows.length) yield rows;
    }
    if (rest) yield [parse(rest)];
  } finally {
    stream.destroy();
  }
}

/**
 * Reads sorted rows batch by batch: `row` is the current row (undefined at the end), `advance()`
 * moves on, and only moving past a batch's last row needs `await fill()`.
 */
export class RowCursor {
  private batch: SpillRow[] = [];
  private i = 0;
  private ended = false;

  constructor(private readonly batches: AsyncGenerator<SpillRow[]>) {}

  /** Whether the current batch is used up (then `fill()` before reading `row`). */
  get empty(): boolean {
    return this.i >= this.batch.length;
  }

  /** Loads the next batch when the current one is used up; false at the end. */
  async fill(): Promise<boolean> {
    while (this.i >= this.batch.length) {
      if (this.ended) return false;
      const next = await this.batches.next();
      if (next.done) {
        this.ended = true;
        this.batch = [];
        this.i = 0;
        return false;
      }
      this.batch = next.value;
      this.i = 0;
    }
    return true;
  }

  /** The current row; call only when `empty` is false. */
  get row(): SpillRow {
    return this.batch[this.i] as SpillRow;
  }

  advance(): void {
    this.i++;
  }

  async close(): Promise<void> {
    await this.batches.return(undefined);
  }
}

/** Rows held in memory, column by column: few objects for the garbage collector to trace. */
class RowBuffer {
  private readonly keys: string[] = [];
  private readonly tolerants: string[] = [];
  private hashes = new Float64Array(1024);
  private offsets = new Float64Array(1024);
  private lengths = new Uint32Array(1024);

  get size(): number {
    return this.keys.length;
  }

  push(key: string, hash: number, tolerant: string, offset: number, length: number): void {
    const n = this.keys.length;
    if (n === this.hashes.length) {
      const grow = <T extends Float64Array | Uint32Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.hashes = grow(this.hashes, (m) => new Float64Array(m));
      this.offsets = grow(this.offsets, (m) => new Float64Array(m));
      this.lengths = grow(this.lengths, (m) => new Uint32Array(m));
    }
    this.keys.push(key);
    this.tolerants.push(tolerant);
    this.hashes[n] = hash;
    this.offsets[n] = offset;
    this.lengths[n] = length;
  }

  /** Row indexes ascending by key; equal keys in the order they were added. */
  order(): Uint32Array {
    const keys = this.keys;
    const idx = new Uint32Array(keys.length);
    for (let i = 0; i < idx.length; i++) idx[i] = i;
    return idx.sort((a, b) => {
      const x = keys[a] as string;
      const y = keys[b] as string;
      return x < y ? -1 : x > y ? 1 : a - b;
    });
  }

  row(i: number): SpillRow {
    return {
      key: this.keys[i] as string,
      hash: this.hashes[i] as number,
      tolerant: this.tolerants[i] as string,
      offset: this.offsets[i] as number,
      length: this.lengths[i] as number,
    };
  }

  /** The rows in `order`, in batches. */
  async *batches(order: Uint32Array): AsyncGenerator<SpillRow[]> {
    for (let i = 0; i < order.length; i += BATCH) {
      const out: SpillRow[] = [];
      const end = Math.min(order.length, i + BATCH);
      for (let j = i; j < end; j++) out.push(this.row(order[j] as number));
      yield out;
    }
  }
}

/**
 * Sorts one side's rows by key with bounded memory: rows are held up to `maxInMemory`, then
 * sorted and written to a run file under a temporary folder; `sorted()` merges the runs (k-way)
 * with the rows still in memory. Rows with the same key come out in the order they were added.
 * `cleanup()` removes the temporary folder; call it in a `finally`.
 */
export class SpillSorter {
  private buffer = new RowBuffer();
  private readonly runs: string[] = [];
  private dir: string | undefined;
  private readonly maxInMemory: number;
  /** The records as read, appended in reading order: rows point into it. */
  private recordFd: number | undefined;
  private readonly pending = Buffer.allocUnsafe(SPILL_BUFFER);
  private pendingBytes = 0;
  private written = 0;

  constructor(private readonly options: { dir?: string; maxInMemory?: number; name?: string } = {}) {
    this.maxInMemory = Math.max(1, options.maxInMemory ?? DEFAULT_MAX_IN_MEMORY);
  }

  /** Run files written so far. */
  get spilledRuns(): number {
    return this.runs.length;
  }

  private folder(): string {
    this.dir ??= mkdtempSync(
      join(this.options.dir ?? tmpdir(), `sinew-reconcile-${this.options.name ?? 'side'}-`),
    );
    return this.dir;
  }

  private flushRecords(): void {
    if (this.pendingBytes === 0) return;
    this.recordFd ??= openSync(join(this.folder(), 'records.jsonl'), 'w+');
    let done = 0;
    while (done < this.pendingBytes)
      done += writeSync(this.recordFd, this.pending, done, this.pendingBytes - done);
    this.pendingBytes = 0;
  }

  /** Appends a record (JSON) to the record file; its offset and length in bytes. */
  private appendRecord(json: string): { offset: number; length: number } {
    if (this.pendingBytes + json.length * 3 > SPILL_BUFFER) this.flushRecords();
    const offset = this.written;
    let length: number;
    if (json.length * 3 > SPILL_BUFFER) {
      const bytes = Buffer.from(json, 'utf8');
      this.recordFd ??= openSync(join(this.folder(), 'records.jsonl'), 'w+');
      writeSync(this.recordFd, bytes);
      length = bytes.length;
    } else {
      length = this.pending.write(json, this.pendingBytes, 'utf8');
      this.pendingBytes += length;
    }
    this.written += length;
    return { offset, length };
  }

  /** The record (JSON) a row points to. */
  record(parts: SpillRow): string {
    this.flushRecords();
    const bytes = Buffer.allocUnsafe(parts.length);
    let done = 0;
    while (done < parts.length) {
      const n = readSync(this.recordFd as number, bytes, done, parts.length - done, parts.offset + done);
      if (n === 0) break;
      done += n;
    }
    return bytes.toString('utf8', 0, done);
  }

  /**
   * Adds a record: its normalised identity, the hash of its exact fields, its tolerant fields'
   * values and the record as read (JSON). When the rows in memory reach the limit, returns the
   * promise of writing them to disk.
   */
  add(key: string, hash: number, tolerant: string, json: string): Promise<void> | undefined {
    const { offset, length } = this.appendRecord(json);
    this.buffer.push(key, hash, tolerant, offset, length);
    return this.buffer.size >= this.maxInMemory ? this.spill() : undefined;
  }

  private async spill(): Promise<void> {
    const rows = this.buffer;
    const order = rows.order();
    this.buffer = new RowBuffer();
    const path = join(this.folder(), `run-${this.runs.length}.tsv`);
    this.runs.push(path);
    const handle = await open(path, 'w');
    try {
      // Lines are encoded straight into one reused buffer: far cheaper than joining strings.
      const buf = Buffer.allocUnsafe(SPILL_BUFFER);
      let off = 0;
      for (const i of order) {
        const r = rows.row(i);
        const line = `${escapeText(r.key)}\t${r.hash}\t${escapeText(r.tolerant)}\t${r.offset}\t${r.length}`;
        if (off + line.length * 3 + 1 > SPILL_BUFFER) {
          if (off > 0) await handle.write(buf, 0, off);
          off = 0;
          if (line.length * 3 + 1 > SPILL_BUFFER) {
            await handle.write(`${line}\n`);
            continue;
          }
        }
        off += buf.write(line, off, 'utf8');
        buf[off++] = 10;
      }
      if (off > 0) await handle.write(buf, 0, off);
    } finally {
      await handle.close();
    }
  }

  /** Every row added, ascending by key, in batches; rows with equal keys in the order they were added. */
  async *sorted(): AsyncGenerator<SpillRow[]> {
    const rows = this.buffer;
    const memory = rows.batches(rows.order());
    this.buffer = new RowBuffer();
    if (this.runs.length === 0) {
      yield* memory;
      return;
    }
    // Sources in the order rows were added (runs first, then memory): ties go to the earlier.
    const cursors = [...this.runs.map(readRun), memory].map((b) => new RowCursor(b));
    try {
      const live: number[] = [];
      for (const [i, c] of cursors.entries()) if (await c.fill()) live.push(i);
      // A binary heap of cursor indexes, ordered by current key then index.
      const heap: number[] = [];
      const less = (i: number, j: number) => {
        const a = (cursors[i] as RowCursor).row.key;
        const b = (cursors[j] as RowCursor).row.key;
        return a < b || (a === b && i < j);
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
      for (const i of live) {
        heap.push(i);
        up(heap.length - 1);
      }
      let out: SpillRow[] = [];
      while (heap.length) {
        const i = heap[0] as number;
        const c = cursors[i] as RowCursor;
        out.push(c.row);
        c.advance();
        if (c.empty && !(await c.fill())) {
          const last = heap.pop() as number;
          if (heap.length) {
            heap[0] = last;
            down(0);
          }
        } else down(0);
        if (out.length >= BATCH) {
          yield out;
          out = [];
        }
      }
      if (out.length) yield out;
    } finally {
      await Promise.all(cursors.map((c) => c.close()));
    }
  }

  /** Removes the run files. */
  async cleanup(): Promise<void> {
    this.buffer = new RowBuffer();
    this.pendingBytes = 0;
    if (this.recordFd !== undefined) closeSync(this.recordFd);
    this.recordFd = undefined;
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.runs.length = 0;
  }
}
