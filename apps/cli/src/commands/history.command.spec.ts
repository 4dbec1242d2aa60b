import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { itWithPeer, patchPeer } from '@sinew/test-support/peers';
import { unifiedDiff } from './history.command';

const labels = { from: 'lab.yaml (version 1)', to: 'lab.yaml (version 2)' };
const numbered = (n: number, change: Record<number, string> = {}) =>
  Array.from({ length: n }, (_, i) => `${change[i + 1] ?? `line ${i + 1}`}\n`).join('');

/** Applies a unified diff the way a reader does: context and `-` lines must match. */
function apply(before: string, diff: string): string {
  const old = before.split(/(?<=\n)/).filter((l) => l !== '');
  const out: string[] = [];
  let at = 0;
  const lines = diff.split(/(?<=\n)/).slice(2);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const hunk = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@\n$/.exec(line);
    if (hunk) {
      const start = Number(hunk[1]) - (hunk[2] === '0' ? 0 : 1);
      while (at < start) out.push(old[at++] as string);
      continue;
    }
    const noNewline = lines[i + 1] === '\\ No newline at end of file\n';
    const text = noNewline ? line.slice(1, -1) : line.slice(1);
    if (noNewline) i++;
    if (line[0] === '+') out.push(text);
    else {
      if (old[at] !== text) throw new Error(`line ${at + 1} does not match: ${JSON.stringify(text)}`);
      if (line[0] === ' ') out.push(text);
      at++;
    }
  }
  while (at < old.length) out.push(old[at++] as string);
  return out.join('');
}

describe('unifiedDiff', () => {
  it('shows a changed line with three lines of context, as diff -u does', () => {
    const before = numbered(12);
    const after = numbered(12, { 6: 'line six' });
    expect(unifiedDiff(before, after, labels)).toBe(
      [
        '--- lab.yaml (version 1)',
        '+++ lab.yaml (version 2)',
        '@@ -3,7 +3,7 @@',
        ' line 3',
        ' line 4',
        ' line 5',
        '-line 6',
        '+line six',
        ' line 7',
        ' line 8',
        ' line 9',
        '',
      ].join('\n'),
    );
  });

  it('writes changes far apart as separate hunks, as diff -u does', () => {
    const before = numbered(20);
    const after = `first\n${numbered(20, { 10: 'ten' })}last\n`;
    expect(unifiedDiff(before, after, labels)).toBe(
      [
        '--- lab.yaml (version 1)',
        '+++ lab.yaml (version 2)',
        '@@ -1,3 +1,4 @@',
        '+first',
        ' line 1',
        ' line 2',
        ' line 3',
        '@@ -7,7 +8,7 @@',
        ' line 7',
        ' line 8',
        ' line 9',
        '-line 10',
        '+ten',
        ' line 11',
        ' line 12',
        ' line 13',
        '@@ -18,3 +19,4 @@',
        ' line 18',
        ' line 19',
        ' line 20',
        '+last',
        '',
      ].join('\n'),
    );
  });

  it('marks a last line without a newline, and says nothing for the same text', () => {
    expect(unifiedDiff('a\nb', 'a\nb\n', labels)).toBe(
      [
        '--- lab.yaml (version 1)',
        '+++ lab.yaml (version 2)',
        '@@ -1,2 +1,2 @@',
        ' a',
        '-b',
        '\\ No newline at end of file',
        '+b',
        '',
      ].join('\n'),
    );
    expect(unifiedDiff('same\n', 'same\n', labels)).toBe('');
    expect(unifiedDiff('', 'new\n', labels)).toContain('@@ -0,0 +1 @@\n+new\n');
  });

  it('turns any text into any other (checked line by line)', () => {
    const text = fc
      .array(fc.constantFrom('a\n', 'b\n', 'c\n', 'd\n', 'e\n', 'key: value\n', '\n'), { maxLength: 40 })
      .map((lines) => lines.join(''));
    fc.assert(
      fc.property(text, text, (before, after) => {
        expect(apply(before, unifiedDiff(before, after, labels))).toBe(after);
      }),
      { numRuns: 500 },
    );
  });

  itWithPeer(patchPeer, 'gives diffs that GNU patch applies exactly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-diff-'));
    try {
      const text = fc
        .array(fc.constantFrom('id: lab\n', 'source: x\n', 'a\n', 'b\n', '  - c\n', '\n'), { maxLength: 30 })
        .map((lines) => lines.join(''));
      fc.assert(
        fc.property(text, text, (before, after) => {
          const file = join(dir, 'lab.yaml');
          writeFileSync(file, before);
          const diff = unifiedDiff(before, after, labels);
          const r = spawnSync('patch', ['--quiet', '--force', file], { input: diff, encoding: 'utf8' });
          expect(r.status).toBe(0);
          expect(readFileSync(file, 'utf8')).toBe(after);
        }),
        { numRuns: 40 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
