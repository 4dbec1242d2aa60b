/**
 * Unified diffs of channel texts (`diff -u` format): `sinew history --diff` and the admin API's
 * deployment route print the same text.
 */

type Edit = { kind: ' ' | '-' | '+'; line: string };

/** Lines with their terminator, so that a last line without a newline differs from one with. */
function splitLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  return lines.length === 1 && lines[0] === '' ? [] : lines;
}

/**
 * A shortest edit script from `a` to `b` (Myers' O((N+M)D) algorithm). The furthest-reaching
 * x per diagonal k is kept for each edit distance d, for k in -d-1..d+1 only (O(D²) memory).
 */
function diffLines(a: string[], b: string[]): Edit[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  /** `trace[d]`: v before round d, diagonals -d-1..d+1. */
  const trace: Int32Array[] = [];
  const at = (t: Int32Array, d: number, k: number) => t[k + d + 1] ?? 0;
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0));
      let x = down ? (v[offset + k + 1] ?? 0) : (v[offset + k - 1] ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }
  const edits: Edit[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const t = trace[d] as Int32Array;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(t, d, k - 1) < at(t, d, k + 1)) ? k + 1 : k - 1;
    const prevX = at(t, d, prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      edits.push({ kind: ' ', line: a[x - 1] as string });
      x--;
      y--;
    }
    if (d > 0) {
      if (x === prevX) edits.push({ kind: '+', line: b[y - 1] as string });
      else edits.push({ kind: '-', line: a[x - 1] as string });
    }
    x = prevX;
    y = prevY;
  }
  return edits.reverse();
}

/** `start,count` of a hunk side as unified diffs write it (1-based; `,1` left out). */
function range(start: number, count: number): string {
  const first = count === 0 ? start : start + 1;
  return count === 1 ? `${first}` : `${first},${count}`;
}

/**
 * A unified diff (`diff -u` format, `context` lines around each change) from `before` to
 * `after`; empty when the texts are the same.
 */
export function unifiedDiff(
  before: string,
  after: string,
  labels: { from: string; to: string },
  context = 3,
): string {
  const edits = diffLines(splitLines(before), splitLines(after));
  const changed = edits.flatMap((e, i) => (e.kind === ' ' ? [] : [i]));
  if (changed.length === 0) return '';
  const out = [`--- ${labels.from}\n`, `+++ ${labels.to}\n`];
  let i = 0;
  while (i < changed.length) {
    let last = changed[i] as number;
    let j = i + 1;
    while (j < changed.length && (changed[j] as number) - last <= 2 * context) {
      last = changed[j] as number;
      j++;
    }
    const start = Math.max(0, (changed[i] as number) - context);
    const end = Math.min(edits.length, last + 1 + context);
    let oldStart = 0;
    let newStart = 0;
    for (const e of edits.slice(0, start)) {
      if (e.kind !== '+') oldStart++;
      if (e.kind !== '-') newStart++;
    }
    const hunk = edits.slice(start, end);
    const oldCount = hunk.filter((e) => e.kind !== '+').length;
    const newCount = hunk.filter((e) => e.kind !== '-').length;
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@\n`);
    for (const e of hunk) {
      out.push(
        e.line.endsWith('\n') ? `${e.kind}${e.line}` : `${e.kind}${e.line}\n\\ No newline at end of file\n`,
      );
    }
    i = j;
  }
  return out.join('');
}

/** A time stamp to the second, in UTC (as `sinew history` prints it). */
export function utcSecond(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
