import { closeSync, mkdtempSync, openSync, readSync, writeSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
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

/** Bytes encoded before each write of the record file. */
const SPILL_BUFFER = 1 << 22;

/** Rows per block handed from one stage to the next (stages await once per block, not per row). */
const BATCH = 4096;

/**
 * Rows column by column (the same index in each column is one row): few objects for the garbage
 * collector to trace, whatever the number of rows.
 */
export interface RowBlock {
  size: number;
  keys: string[];
  tolerants: string[];
  hashes: Float64Array;
  offsets: Float64Array;
  lengths: Uint32Array;
}

function newBlock(capacity: number): RowBlock {
  return {
    size: 0,
    keys: [],
    tolerants: [],
    hashes: new Float64Array(capacity),
    offsets: new Float64Array(capacity),
    lengths: new Uint32Array(capacity),
  };
}

const NO_ROWS: RowBlock = newBlock(0);

/**
 * A run file is a sequence of blocks, each written and read in one piece:
 * a header of four 32-bit numbers (rows n, bytes of the keys, bytes of the tolerant values, 0),
 * then n hashes and n record offsets (64-bit floats), n record lengths, n key lengths and n
 * tolerant-value lengths (32-bit, in UTF-16 code units), then the keys and the tolerant values,
 * each column as one UTF-8 text without separators (the lengths cut it). Nothing is escaped, and
 * no number is written as text. Numbers are in the machine's byte order: a run file is read back
 * by the process that wrote it.
 */
const HEADER = 16;

function copyOut(view: ArrayBufferView, into: Buffer, at: number): number {
  into.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), at);
  return at + view.byteLength;
}

/** One block of a run file (see HEADER). */
function encodeBlock(b: RowBlock): Buffer {
  const n = b.size;
  const keyLens = new Uint32Array(n);
  const tolLens = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    keyLens[i] = (b.keys[i] as string).length;
    tolLens[i] = (b.tolerants[i] as string).length;
  }
  const keys = b.keys.length === n ? b.keys.join('') : b.keys.slice(0, n).join('');
  const tolerants = b.tolerants.length === n ? b.tolerants.join('') : b.tolerants.slice(0, n).join('');
  const keyBytes = Buffer.byteLength(keys, 'utf8');
  const tolBytes = Buffer.byteLength(tolerants, 'utf8');
  const out = Buffer.allocUnsafe(HEADER + n * 28 + keyBytes + tolBytes);
  out.writeUInt32LE(n, 0);
  out.writeUInt32LE(keyBytes, 4);
  out.writeUInt32LE(tolBytes, 8);
  out.writeUInt32LE(0, 12);
  let at = HEADER;
  at = copyOut(b.hashes.subarray(0, n), out, at);
  at = copyOut(b.offsets.subarray(0, n), out, at);
  at = copyOut(b.lengths.subarray(0, n), out, at);
  at = copyOut(keyLens, out, at);
  at = copyOut(tolLens, out, at);
  at += out.write(keys, at, 'utf8');
  out.write(tolerants, at, 'utf8');
  return out;
}

/** Copies `count` elements of a column out of a block's bytes (typed arrays need aligned memory). */
function column<T extends Float64Array | Uint32Array>(
  make: (n: number) => T,
  count: number,
  body: Buffer,
  at: number,
): T {
  const out = make(count);
  new Uint8Array(out.buffer).set(body.subarray(at, at + out.byteLength));
  return out;
}

function cut(text: string, lengths: Uint32Array): string[] {
  const out = new Array<string>(lengths.length);
  let at = 0;
  for (let i = 0; i < lengths.length; i++) {
    const end = at + (lengths[i] as number);
    out[i] = text.slice(at, end);
    at = end;
  }
  return out;
}

/** The body of a block (everything after its header) back into rows. */
function decodeBlock(body: Buffer, n: number, keyBytes: number): RowBlock {
  let at = 0;
  const hashes = column((m) => new Float64Array(m), n, body, at);
  at += n * 8;
  const offsets = column((m) => new Float64Array(m), n, body, at);
  at += n * 8;
  const lengths = column((m) => new Uint32Array(m), n, body, at);
  at += n * 4;
  const keyLens = column((m) => new Uint32Array(m), n, body, at);
  at += n * 4;
  const tolLens = column((m) => new Uint32Array(m), n, body, at);
  at += n * 4;
  const keys = cut(body.toString('utf8', at, at + keyBytes), keyLens);
  const tolerants = cut(body.toString('utf8', at + keyBytes), tolLens);
  return { size: n, keys, tolerants, hashes, offsets, lengths };
}

async function readFully(handle: FileHandle, into: Buffer, position: number): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** A run file's rows, block by block. */
async function* readRun(path: string): AsyncGenerator<RowBlock> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(HEADER);
    let position = 0;
    for (;;) {
      const got = await readFully(handle, head, position);
      if (got === 0) return;
      const n = head.readUInt32LE(0);
      const keyBytes = head.readUInt32LE(4);
      const body = Buffer.allocUnsafe(n * 28 + keyBytes + head.readUInt32LE(8));
      if (got < HEADER || (await readFully(handle, body, position + HEADER)) < body.length)
        throw new Error(`a run file of the comparison is shorter than written (${path})`);
      position += HEADER + body.length;
      yield decodeBlock(body, n, keyBytes);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Reads sorted rows block by block: `key`, `hash`, `tolerant`, `offset` and `length` are the
 * current row's, `advance()` moves on, and only moving past a block's last row needs
 * `await fill()`.
 */
export class RowCursor {
  private block: RowBlock = NO_ROWS;
  private i = 0;
  private ended = false;

  constructor(private readonly blocks: AsyncGenerator<RowBlock>) {}

  /** Whether the current block is used up (then `fill()` before reading the row). */
  get empty(): boolean {
    return this.i >= this.block.size;
  }

  /** Loads the next block when the current one is used up; false at the end. */
  async fill(): Promise<boolean> {
    while (this.i >= this.block.size) {
      if (this.ended) return false;
      const next = await this.blocks.next();
      if (next.done) {
        this.ended = true;
        this.block = NO_ROWS;
        this.i = 0;
        return false;
      }
      this.block = next.value;
      this.i = 0;
    }
    return true;
  }

  /** The current row's key; read only when `empty` is false (as the other columns). */
  get key(): string {
    return this.block.keys[this.i] as string;
  }
  get hash(): number {
    return this.block.hashes[this.i] as number;
  }
  get tolerant(): string {
    return this.block.tolerants[this.i] as string;
  }
  get offset(): number {
    return this.block.offsets[this.i] as number;
  }
  get length(): number {
    return this.block.lengths[this.i] as number;
  }

  /** The current row as one object. */
  get row(): SpillRow {
    return {
      key: this.key,
      hash: this.hash,
      tolerant: this.tolerant,
      offset: this.offset,
      length: this.length,
    };
  }

  advance(): void {
    this.i++;
  }

  async close(): Promise<void> {
    await this.blocks.return(undefined);
  }
}

/** Appends the cursor's current row to a block. */
function pushRow(b: RowBlock, c: RowCursor): void {
  const n = b.size++;
  b.keys.push(c.key);
  b.tolerants.push(c.tolerant);
  b.hashes[n] = c.hash;
  b.offsets[n] = c.offset;
  b.lengths[n] = c.length;
}

/** Ranges at most this long are sorted by comparing whole keys (insertion sort). */
const SMALL_RANGE = 24;
/** A range whose characters at one position spread wider than this is sorted by comparing keys. */
const WIDE_ALPHABET = 1024;

/** Sorts `idx[lo, hi)` by whole keys, stable (equal keys keep their order). */
function insertionSort(keys: readonly string[], idx: Uint32Array, lo: number, hi: number): void {
  for (let i = lo + 1; i < hi; i++) {
    const v = idx[i] as number;
    const k = keys[v] as string;
    let j = i - 1;
    while (j >= lo && k < (keys[idx[j] as number] as string)) {
      idx[j + 1] = idx[j] as number;
      j--;
    }
    idx[j + 1] = v;
  }
}

/**
 * The indexes of `keys` in ascending key order, as `<` orders texts (UTF-16 code units, a prefix
 * first), equal keys in index order. A most-significant-character-first radix sort: each range
 * of keys sharing their first `depth` characters is distributed by the next character with a
 * stable counting sort, so a key is read a few characters at a time instead of being compared
 * whole some twenty times; short ranges, and ranges of widely spread characters, are sorted by
 * comparing keys.
 */
export function orderByKey(keys: readonly string[]): Uint32Array {
  const n = keys.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const tmp = new Uint32Array(n);
  const codes = new Int32Array(n);
  const stack: number[] = [0, n, 0];
  while (stack.length) {
    const depth = stack.pop() as number;
    const hi = stack.pop() as number;
    const lo = stack.pop() as number;
    if (hi - lo <= SMALL_RANGE) {
      insertionSort(keys, idx, lo, hi);
      continue;
    }
    // The next character of each key, + 1 (0: the key ends here).
    let min = 0x10000;
    let max = 0;
    for (let i = lo; i < hi; i++) {
      const k = keys[idx[i] as number] as string;
      const c = depth < k.length ? k.charCodeAt(depth) + 1 : 0;
      codes[i] = c;
      if (c < min) min = c;
      if (c > max) max = c;
    }
    if (min === max) {
      // Every key ends here (all equal, already in index order), or they share one more character.
      if (min !== 0) stack.push(lo, hi, depth + 1);
      continue;
    }
    if (max - min > WIDE_ALPHABET) {
      const part = idx.subarray(lo, hi).sort((a, b) => {
        const x = keys[a] as string;
        const y = keys[b] as string;
        return x < y ? -1 : x > y ? 1 : a - b;
      });
      idx.set(part, lo);
      continue;
    }
    const counts = new Uint32Array(max - min + 2);
    for (let i = lo; i < hi; i++) (counts[(codes[i] as number) - min + 1] as number)++;
    for (let c = 1; c < counts.length; c++) counts[c] = (counts[c] as number) + (counts[c - 1] as number);
    // counts[c - min] is now where the keys with character c start (relative to lo).
    for (let i = lo; i < hi; i++) {
      const slot = (codes[i] as number) - min;
      tmp[lo + (counts[slot] as number)] = idx[i] as number;
      counts[slot] = (counts[slot] as number) + 1;
    }
    idx.set(tmp.subarray(lo, hi), lo);
    // After the pass, counts[c - min] is where the keys with character c end.
    let start = lo;
    for (let c = 0; c <= max - min; c++) {
      const end = lo + (counts[c] as number);
      // Keys that ended (character 0) are all equal: nothing to sort.
      if (end - start > 1 && !(c === 0 && min === 0)) stack.push(start, end, depth + 1);
      start = end;
    }
  }
  return idx;
}

/** Rows held in memory, column by column. */
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
    return orderByKey(this.keys);
  }

  /** The rows in `order`, in blocks. */
  *blocks(order: Uint32Array): Generator<RowBlock> {
    for (let i = 0; i < order.length; i += BATCH) {
      const end = Math.min(order.length, i + BATCH);
      const b = newBlock(end - i);
      for (let j = i; j < end; j++) {
        const r = order[j] as number;
        const n = b.size++;
        b.keys.push(this.keys[r] as string);
        b.tolerants.push(this.tolerants[r] as string);
        b.hashes[n] = this.hashes[r] as number;
        b.offsets[n] = this.offsets[r] as number;
        b.lengths[n] = this.lengths[r] as number;
      }
      yield b;
    }
  }
}

async function* inMemory(blocks: Iterable<RowBlock>): AsyncGenerator<RowBlock> {
  yield* blocks;
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

  /** Appends a record (JSON) to the record file (at `written`); its length in bytes. */
  private appendRecord(json: string): number {
    if (this.pendingBytes + json.length * 3 > SPILL_BUFFER) this.flushRecords();
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
    return length;
  }

  /** The record (JSON) at `offset` of the record file, `length` bytes (a row's). */
  record(row: { offset: number; length: number }): string {
    this.flushRecords();
    const bytes = Buffer.allocUnsafe(row.length);
    let done = 0;
    while (done < row.length) {
      const n = readSync(this.recordFd as number, bytes, done, row.length - done, row.offset + done);
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
    const offset = this.written;
    const length = this.appendRecord(json);
    this.buffer.push(key, hash, tolerant, offset, length);
    return this.buffer.size >= this.maxInMemory ? this.spill() : undefined;
  }

  private async spill(): Promise<void> {
    const rows = this.buffer;
    const order = rows.order();
    this.buffer = new RowBuffer();
    const path = join(this.folder(), `run-${this.runs.length}.bin`);
    this.runs.push(path);
    const handle = await open(path, 'w');
    try {
      for (const block of rows.blocks(order)) await handle.write(encodeBlock(block));
    } finally {
      await handle.close();
    }
  }

  /** Every row added, ascending by key, in blocks; rows with equal keys in the order they were added. */
  async *sorted(): AsyncGenerator<RowBlock> {
    const rows = this.buffer;
    const memory = inMemory(rows.blocks(rows.order()));
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
        const a = (cursors[i] as RowCursor).key;
        const b = (cursors[j] as RowCursor).key;
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
      let out = newBlock(BATCH);
      while (heap.length) {
        const i = heap[0] as number;
        const c = cursors[i] as RowCursor;
        pushRow(out, c);
        c.advance();
        if (c.empty && !(await c.fill())) {
          const last = heap.pop() as number;
          if (heap.length) {
            heap[0] = last;
            down(0);
          }
        } else down(0);
        if (out.size >= BATCH) {
          yield out;
          out = newBlock(BATCH);
        }
      }
      if (out.size) yield out;
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
