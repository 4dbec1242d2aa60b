/**
 * Comparing two SQL sides without reading them whole (the approach of data-diff): split the
 * key space into ranges, ask each database for every range's row count and a checksum of its
 * rows, split again only the ranges whose answers differ, and fetch only the rows of the small
 * differing ranges for the normal comparison.
 *
 * Keys are ordered by their UTF-8 bytes on both sides (PostgreSQL bytea, MySQL binary
 * strings, SQLite's BINARY collation), so that a range holds the same keys in both databases
 * whatever their collations. A row's checksum is the first 60 bits of the MD5 of its columns'
 * text (key, the compared fields in order, the status when counted) joined by a control
 * character; a range's checksum is their sum. SQLite has no MD5: a SQLite side is read range by
 * range instead, every range being fetched.
 */
import type { ReadContext, SideReader, SideRecord } from '../types';
import { ReconcileReadError } from './errors';
import { SqlSideReader, type SqlConnection, type SqlDialect } from './sql';

export interface ChecksumDiffOptions {
  /** Sub-ranges a differing range is split into (default 64). */
  fanout?: number;
  /** A differing range holding at most this many rows on each side is fetched, not split (default 256). */
  leafRows?: number;
  /** Rows per fetched range when a side cannot checksum (SQLite; default 10,000). */
  streamRangeRows?: number;
  /** Filled in as the diff runs. */
  stats?: ChecksumDiffStats;
}

export interface ChecksumDiffStats {
  /** Whether both databases computed checksums (false: every range was fetched). */
  checksums: boolean;
  /** Rounds of checksums asked. */
  levels: number;
  /** Queries sent to the two databases. */
  queries: number;
  /** Rows each side holds in the period. */
  rowsTotal: { source: number; target: number };
  /** Rows fetched from each side for the comparison. */
  rowsFetched: { source: number; target: number };
  /** Ranges fetched. */
  rangesFetched: number;
}

/** Rows of one key range from both sides, to be compared by the normal comparison. */
export interface RangeRows {
  source: SideRecord[];
  target: SideRecord[];
}

/** Whether both readers are SQL sides, so that {@link sqlChecksumDiff} can compare them. */
export function canChecksumDiff(source: SideReader, target: SideReader): boolean {
  return source instanceof SqlSideReader && target instanceof SqlSideReader;
}

/** Keys sampled per wanted part when splitting large ranges. */
const SAMPLES_PER_PART = 16;

/** A key range `[lo, hi)`; null bounds are open. */
interface Range {
  lo: string | null;
  hi: string | null;
}

interface RangeAnswer {
  n: number;
  sum: bigint;
  distinct: number;
}

/** A side's dialect-specific SQL over its query. */
class SideSql {
  readonly dialect: SqlDialect;
  private readonly base: { text: string; values: unknown[] };

  constructor(
    readonly reader: SqlSideReader,
    readonly ctx: ReadContext,
    readonly connection: SqlConnection,
  ) {
    this.dialect = reader.dialect;
    this.base = reader.bound(ctx);
  }

  private ident(name: string): string {
    return this.dialect === 'mysql' ? `\`${name.replaceAll('`', '``')}\`` : `"${name.replaceAll('"', '""')}"`;
  }

  private col(name: string): string {
    return `q.${this.ident(name)}`;
  }

  /** The key as text. */
  private keyText(): string {
    return this.dialect === 'mysql' ? `CAST(${this.col('key')} AS CHAR)` : `CAST(${this.col('key')} AS TEXT)`;
  }

  /** The key in byte order. */
  private keyBytes(): string {
    if (this.dialect === 'postgres') return `convert_to(CAST(${this.col('key')} AS TEXT), 'UTF8')`;
    if (this.dialect === 'mysql') return `CAST(${this.col('key')} AS BINARY)`;
    return `CAST(${this.col('key')} AS TEXT)`;
  }

  private rowHash(): string {
    const columns = ['key', ...this.ctx.fields, ...(this.ctx.withStatus ? ['status'] : [])];
    if (this.dialect === 'postgres') {
      const text = columns.map((c) => `coalesce(CAST(${this.col(c)} AS TEXT), chr(31))`).join(', ');
      return `('x' || substr(md5(concat_ws(chr(30), ${text})), 1, 15))::bit(60)::bigint`;
    }
    const text = columns.map((c) => `coalesce(CAST(${this.col(c)} AS CHAR), char(31))`).join(', ');
    return `CAST(conv(substr(md5(concat_ws(char(30), ${text})), 1, 15), 16, 10) AS UNSIGNED)`;
  }

  private param(values: unknown[], value: unknown): string {
    values.push(value);
    return this.dialect === 'postgres' ? `$${values.length}` : '?';
  }

  /**
   * The query's rows that fall in the asked buckets, as a derived table with `columns` (over
   * `q`) and `sinew_bucket`: bucket i holds the keys with `t[i-1] <= key < t[i]` (0 below the
   * first threshold, n above the last), keys and thresholds compared by their UTF-8 bytes.
   */
  private bucketed(columns: string[], thresholds: string[], buckets: number[], values: unknown[]): string {
    // The asked columns are computed over the rows left after the bucket filter only.
    const rows = `SELECT q.*, ${this.keyBytes()} AS sinew_kb FROM (${this.base.text}) q`;
    const select = (filtered: string) =>
      columns.includes('q.*')
        ? `(${filtered}) x`
        : `(SELECT ${columns.join(', ')}, q.sinew_kb, q.sinew_bucket FROM (${filtered}) q) x`;
    if (thresholds.length === 0) {
      // One range holding every key: no bucket to find.
      return select(`SELECT v.*, 0 AS sinew_bucket FROM (${rows}) v`);
    }
    if (this.dialect === 'postgres') {
      // width_bucket over a bytea[] walks the array for every row (variable-width elements), so
      // the bucket is found over the keys' first 16 bytes as uuids (fixed width: a binary
      // search). That is exact for keys under 16 bytes (zero-padded, they cannot tie with a
      // different threshold); longer keys whose prefix equals a threshold's are placed over
      // the full bytes.
      const bytes = thresholds.map((t) => Buffer.from(t, 'utf8'));
      const prefixes = this.param(values, bytes.map(prefix16));
      const full = this.param(values, bytes);
      const mask = new Array<boolean>(thresholds.length + 1).fill(false);
      for (const b of buckets) mask[b] = true;
      const wanted = this.param(values, mask);
      const p = `rpad(encode(substr(sinew_kb, 1, 16), 'hex'), 32, '0')::uuid`;
      // OFFSET 0 keeps each layer's values computed once per row.
      const withPrefix = `SELECT y.*, ${p} AS sinew_p FROM (${rows}) y OFFSET 0`;
      const withCoarse = `SELECT z.*, width_bucket(z.sinew_p, ${prefixes}::uuid[]) AS sinew_pb FROM (${withPrefix}) z OFFSET 0`;
      const exact =
        `CASE WHEN octet_length(w.sinew_kb) < 16 OR w.sinew_pb = 0 OR (${prefixes}::uuid[])[w.sinew_pb] <> w.sinew_p ` +
        `THEN w.sinew_pb ` +
        `ELSE width_bucket(w.sinew_kb, ${full}::bytea[]) END`;
      const withBucket = `SELECT w.*, ${exact} AS sinew_bucket FROM (${withCoarse}) w OFFSET 0`;
      return select(`SELECT v.* FROM (${withBucket}) v WHERE (${wanted}::bool[])[v.sinew_bucket + 1]`);
    }
    // A balanced tree of comparisons: log2(n) per row.
    const tree = (lo: number, hi: number): string => {
      if (lo === hi) return String(lo);
      const mid = (lo + hi) >> 1;
      const t = thresholds[mid] as string;
      const placeholder = this.param(values, this.dialect === 'mysql' ? Buffer.from(t, 'utf8') : t);
      return `CASE WHEN y.sinew_kb < ${placeholder} THEN ${tree(lo, mid)} ELSE ${tree(mid + 1, hi)} END`;
    };
    const withBucket = `SELECT y.*, ${tree(0, thresholds.length)} AS sinew_bucket FROM (${rows}) y`;
    return select(`SELECT v.* FROM (${withBucket}) v WHERE v.sinew_bucket IN (${buckets.join(', ')})`);
  }

  /** Row count, checksum and distinct keys of each asked bucket. */
  async checksums(
    thresholds: string[],
    buckets: number[],
    distinct: boolean,
  ): Promise<Map<number, RangeAnswer>> {
    const values = [...this.base.values];
    const from = this.bucketed([`${this.rowHash()} AS sinew_h`], thresholds, buckets, values);
    const sql =
      `SELECT x.sinew_bucket AS b, count(*) AS n, sum(x.sinew_h) AS s${distinct ? ', count(DISTINCT x.sinew_kb) AS d' : ''} ` +
      `FROM ${from} GROUP BY x.sinew_bucket`;
    const out = new Map<number, RangeAnswer>();
    for (const row of await this.connection.all(sql, values)) {
      const n = Number(row.n);
      out.set(Number(row.b), { n, sum: BigInt(String(row.s ?? 0)), distinct: distinct ? Number(row.d) : n });
    }
    return out;
  }

  /** Row counts of each asked bucket (no checksums: SQLite). */
  async counts(thresholds: string[], buckets: number[]): Promise<Map<number, RangeAnswer>> {
    const values = [...this.base.values];
    const from = this.bucketed([this.col('key')], thresholds, buckets, values);
    const sql = `SELECT x.sinew_bucket AS b, count(*) AS n FROM ${from} GROUP BY x.sinew_bucket`;
    const out = new Map<number, RangeAnswer>();
    for (const row of await this.connection.all(sql, values)) {
      out.set(Number(row.b), { n: Number(row.n), sum: 0n, distinct: Number(row.n) });
    }
    return out;
  }

  /**
   * About `parts - 1` keys splitting each asked bucket into parts of about equal size, in byte
   * order. `rows` is how many rows the buckets hold in all: when they are many, the keys are
   * picked from a random sample (a scan, and a sort of the sample only) instead of numbering
   * every row in order (a sort of them all).
   */
  async splitKeys(
    thresholds: string[],
    buckets: number[],
    parts: number,
    rows: number,
  ): Promise<Map<number, string[]>> {
    const values = [...this.base.values];
    const from = this.bucketed([`${this.keyText()} AS sinew_k`], thresholds, buckets, values);
    const out = new Map<number, string[]>();
    const rate = (SAMPLES_PER_PART * parts * buckets.length) / Math.max(1, rows);
    if (rate < 0.25) {
      const random =
        this.dialect === 'postgres'
          ? 'random()'
          : this.dialect === 'mysql'
            ? 'rand()'
            : '((random() / 18446744073709551616.0) + 0.5)';
      const sql =
        `SELECT x.sinew_bucket AS b, x.sinew_k AS k FROM ${from} WHERE ${random} < ${rate.toFixed(8)} ` +
        `ORDER BY x.sinew_bucket, x.sinew_kb`;
      const samples = new Map<number, string[]>();
      for (const row of await this.connection.all(sql, values)) {
        const b = Number(row.b);
        const list = samples.get(b) ?? [];
        list.push(String(row.k));
        samples.set(b, list);
      }
      for (const [b, list] of samples) {
        const keys: string[] = [];
        for (let j = 1; j < parts; j++) keys.push(list[Math.floor((j * list.length) / parts)] as string);
        out.set(b, keys);
      }
      return out;
    }
    const step =
      this.dialect === 'postgres' ? `ceil(cnt::numeric / ${parts})::bigint` : `ceil(cnt / ${parts})`;
    const sql =
      `SELECT b, k FROM (SELECT x.sinew_bucket AS b, x.sinew_k AS k, ` +
      `row_number() OVER (PARTITION BY x.sinew_bucket ORDER BY x.sinew_kb) AS rn, ` +
      `count(*) OVER (PARTITION BY x.sinew_bucket) AS cnt FROM ${from}) z ` +
      `WHERE rn > 1 AND (rn - 1) % ${step} = 0 ORDER BY b, rn`;
    for (const row of await this.connection.all(sql, values)) {
      const b = Number(row.b);
      const list = out.get(b) ?? [];
      list.push(String(row.k));
      out.set(b, list);
    }
    return out;
  }

  /** The rows of the asked buckets, ordered by bucket, each with its bucket. */
  async *rows(
    thresholds: string[],
    buckets: number[],
  ): AsyncIterable<{ bucket: number; record: SideRecord }> {
    const values = [...this.base.values];
    const from = this.bucketed(['q.*'], thresholds, buckets, values);
    const sql = `SELECT x.* FROM ${from} ORDER BY x.sinew_bucket`;
    for await (const row of this.connection.stream(sql, values)) {
      yield { bucket: Number(row.sinew_bucket), record: this.reader.toRecord(row, this.ctx) };
    }
  }
}

/** The first 16 bytes, zero-padded, as a uuid: ordered as the bytes are, for keys without NUL. */
function prefix16(bytes: Buffer): string {
  return bytes.subarray(0, 16).toString('hex').padEnd(32, '0');
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The thresholds of a sorted list of disjoint ranges, and which range each bucket is (gaps
 * between ranges are buckets of no range).
 */
function layout(ranges: Range[]): { thresholds: string[]; bucketOf: number[] } {
  const thresholds: string[] = [];
  const bucketOf: number[] = [];
  for (const range of ranges) {
    if (range.lo !== null && thresholds[thresholds.length - 1] !== range.lo) thresholds.push(range.lo);
    bucketOf.push(range.lo === null ? 0 : thresholds.length);
    if (range.hi !== null) thresholds.push(range.hi);
  }
  return { thresholds, bucketOf };
}

/**
 * Compares two SQL sides of an entity range by range, yielding the rows of the ranges that
 * differ (with their duplicates), to be fed together to the normal comparison: keys are
 * matched across all the ranges yielded, never inside one range only. Ranges that hold the
 * same rows on both sides are never read.
 */
export async function* sqlChecksumDiff(
  sourceReader: SideReader,
  targetReader: SideReader,
  ctx: Omit<ReadContext, 'side'>,
  opts: ChecksumDiffOptions = {},
): AsyncIterable<RangeRows> {
  if (!(sourceReader instanceof SqlSideReader) || !(targetReader instanceof SqlSideReader)) {
    throw new TypeError('sqlChecksumDiff compares two sql sides');
  }
  const fanout = Math.max(2, opts.fanout ?? 64);
  const leafRows = Math.max(1, opts.leafRows ?? 256);
  const stats: ChecksumDiffStats = Object.assign(opts.stats ?? ({} as ChecksumDiffStats), {
    checksums: sourceReader.dialect !== 'sqlite' && targetReader.dialect !== 'sqlite',
    levels: 0,
    queries: 0,
    rowsTotal: { source: 0, target: 0 },
    rowsFetched: { source: 0, target: 0 },
    rangesFetched: 0,
  });
  const sourceCtx: ReadContext = { ...ctx, side: 'source' };
  const targetCtx: ReadContext = { ...ctx, side: 'target' };
  const [sourceConn, targetConn] = await Promise.all([
    sourceReader.connect(sourceCtx),
    targetReader.connect(targetCtx),
  ]);
  const source = new SideSql(sourceReader, sourceCtx, sourceConn);
  const target = new SideSql(targetReader, targetCtx, targetConn);
  const run = async <T>(side: SideSql, doing: string, query: () => Promise<T>): Promise<T> => {
    stats.queries += 1;
    try {
      return await query();
    } catch (err) {
      throw side.reader.error(err, `${doing} of entity ${ctx.entity} (${side.ctx.side})`);
    }
  };

  try {
    const leaves: Range[] = [];
    let ranges: Range[] = [{ lo: null, hi: null }];
    let checkDistinct = true;
    const maxRows = stats.checksums ? leafRows : Math.max(1, opts.streamRangeRows ?? 10_000);

    while (ranges.length > 0) {
      stats.levels += 1;
      const { thresholds, bucketOf } = layout(ranges);
      const [a, b] = (await Promise.all(
        [source, target].map((side) =>
          run(side, 'the range checksums', () =>
            stats.checksums
              ? side.checksums(thresholds, bucketOf, checkDistinct)
              : side.counts(thresholds, bucketOf),
          ),
        ),
      )) as [Map<number, RangeAnswer>, Map<number, RangeAnswer>];
      if (stats.levels === 1) {
        stats.rowsTotal = { source: a.get(0)?.n ?? 0, target: b.get(0)?.n ?? 0 };
        // Without duplicate keys anywhere, later rounds need not count distinct keys.
        checkDistinct =
          (a.get(0)?.distinct ?? 0) < stats.rowsTotal.source ||
          (b.get(0)?.distinct ?? 0) < stats.rowsTotal.target;
      }

      const toSplit: Array<{ range: Range; bucket: number; fromSource: boolean }> = [];
      ranges.forEach((range, i) => {
        const bucket = bucketOf[i] as number;
        const s = a.get(bucket) ?? { n: 0, sum: 0n, distinct: 0 };
        const t = b.get(bucket) ?? { n: 0, sum: 0n, distinct: 0 };
        const same =
          stats.checksums && s.n === t.n && s.sum === t.sum && s.distinct === s.n && t.distinct === t.n;
        if (same || (s.n === 0 && t.n === 0)) return;
        if (Math.max(s.n, t.n) <= maxRows) leaves.push(range);
        else toSplit.push({ range, bucket, fromSource: s.n >= t.n });
      });
      if (toSplit.length === 0) break;

      const split = new Map<number, string[]>();
      for (const [side, fromSource] of [
        [source, true],
        [target, false],
      ] as const) {
        const buckets = toSplit.filter((r) => r.fromSource === fromSource).map((r) => r.bucket);
        if (buckets.length === 0) continue;
        const largest = Math.max(...buckets.map((k) => Math.max(a.get(k)?.n ?? 0, b.get(k)?.n ?? 0)));
        const rowsIn = buckets.reduce((sum, k) => sum + Math.max(a.get(k)?.n ?? 0, b.get(k)?.n ?? 0), 0);
        const parts = stats.checksums ? fanout : Math.max(2, Math.ceil(largest / maxRows));
        const keys = await run(side, 'splitting key ranges', () =>
          side.splitKeys(thresholds, buckets, parts, rowsIn),
        );
        for (const [bucket, list] of keys) split.set(bucket, list);
      }

      const next: Range[] = [];
      for (const { range, bucket } of toSplit) {
        const inside: string[] = [];
        for (const key of split.get(bucket) ?? []) {
          const last = inside[inside.length - 1] ?? range.lo;
          if (last !== null && compareBytes(key, last) <= 0) continue;
          if (range.hi !== null && compareBytes(key, range.hi) >= 0) continue;
          inside.push(key);
        }
        if (inside.length === 0) {
          // Every row shares one key: the range cannot be split further.
          leaves.push(range);
          continue;
        }
        let lo = range.lo;
        for (const key of inside) {
          next.push({ lo, hi: key });
          lo = key;
        }
        next.push({ lo, hi: range.hi });
      }
      ranges = next;
    }

    if (leaves.length === 0) return;
    leaves.sort((x, y) => (x.lo === null ? -1 : y.lo === null ? 1 : compareBytes(x.lo, y.lo)));
    stats.rangesFetched = leaves.length;
    const { thresholds, bucketOf } = layout(leaves);
    stats.queries += 2;
    yield* mergeByBucket(source.rows(thresholds, bucketOf), target.rows(thresholds, bucketOf), stats);
  } catch (err) {
    if (err instanceof ReconcileReadError) throw err;
    throw sourceReader.error(err, `comparing entity ${ctx.entity} range by range`);
  } finally {
    await Promise.all([sourceConn.close(), targetConn.close()]);
  }
}

type Tagged = { bucket: number; record: SideRecord };

async function* mergeByBucket(
  sourceRows: AsyncIterable<Tagged>,
  targetRows: AsyncIterable<Tagged>,
  stats: ChecksumDiffStats,
): AsyncIterable<RangeRows> {
  const s = sourceRows[Symbol.asyncIterator]();
  const t = targetRows[Symbol.asyncIterator]();
  let sNext = await s.next();
  let tNext = await t.next();
  try {
    while (!sNext.done || !tNext.done) {
      const bucket = Math.min(
        sNext.done ? Infinity : sNext.value.bucket,
        tNext.done ? Infinity : tNext.value.bucket,
      );
      const chunk: RangeRows = { source: [], target: [] };
      while (!sNext.done && sNext.value.bucket === bucket) {
        chunk.source.push(sNext.value.record);
        sNext = await s.next();
      }
      while (!tNext.done && tNext.value.bucket === bucket) {
        chunk.target.push(tNext.value.record);
        tNext = await t.next();
      }
      stats.rowsFetched.source += chunk.source.length;
      stats.rowsFetched.target += chunk.target.length;
      yield chunk;
    }
  } finally {
    await Promise.all([s.return?.(), t.return?.()]);
  }
}
