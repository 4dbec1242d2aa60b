import './diff-view.css';

/**
 * A unified diff (`diff -u`, as the deployment route answers it) shown line by line with the
 * old and new line numbers. Added and removed lines keep their `+` / `-` and are named for
 * screen readers, so colour is never the only sign.
 */

export type DiffLineKind = 'file' | 'hunk' | 'add' | 'del' | 'context' | 'note';

export interface DiffLine {
  kind: DiffLineKind;
  text: string;
  /** Line number in the old text (removed and unchanged lines). */
  old?: number;
  /** Line number in the new text (added and unchanged lines). */
  new?: number;
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

/** The diff's lines, numbered from the hunk headers. */
export function parseUnifiedDiff(diff: string): DiffLine[] {
  if (diff === '') return [];
  const lines = diff.replace(/\n$/, '').split('\n');
  const out: DiffLine[] = [];
  let oldNo = 0;
  let newNo = 0;
  let inHunk = false;
  for (const text of lines) {
    const hunk = HUNK.exec(text);
    if (hunk) {
      oldNo = Number(hunk[1]);
      newNo = Number(hunk[2]);
      inHunk = true;
      out.push({ kind: 'hunk', text });
    } else if (!inHunk && (text.startsWith('--- ') || text.startsWith('+++ '))) {
      out.push({ kind: 'file', text });
    } else if (text.startsWith('\\')) {
      out.push({ kind: 'note', text });
    } else if (text.startsWith('+')) {
      out.push({ kind: 'add', text: text.slice(1), new: newNo++ });
    } else if (text.startsWith('-')) {
      out.push({ kind: 'del', text: text.slice(1), old: oldNo++ });
    } else if (inHunk) {
      out.push({ kind: 'context', text: text.slice(1), old: oldNo++, new: newNo++ });
    } else {
      out.push({ kind: 'file', text });
    }
  }
  return out;
}

/** `2 lines added, 1 removed`. */
export function diffStat(lines: readonly DiffLine[]): string {
  const added = lines.filter((l) => l.kind === 'add').length;
  const removed = lines.filter((l) => l.kind === 'del').length;
  const n = (k: number, what: string) => `${k} ${k === 1 ? 'line' : 'lines'} ${what}`;
  return `${n(added, 'added')}, ${n(removed, 'removed')}`;
}

const SIGN: Partial<Record<DiffLineKind, string>> = { add: '+', del: '-', context: ' ' };
const SPOKEN: Partial<Record<DiffLineKind, string>> = { add: 'added: ', del: 'removed: ' };

export function DiffView({ diff, label }: { diff: string; label: string }) {
  const lines = parseUnifiedDiff(diff);
  if (lines.length === 0) return <p className="state state-empty">The two versions are the same.</p>;
  return (
    <div className="diff">
      <p className="muted">{diffStat(lines)}</p>
      <div className="diff-scroll" tabIndex={0} role="region" aria-label={label}>
        <table className="diff-table">
          <caption className="visually-hidden">{label}</caption>
          <thead>
            <tr>
              <th scope="col" className="diff-no">
                Old
              </th>
              <th scope="col" className="diff-no">
                New
              </th>
              <th scope="col">Line</th>
            </tr>
          </thead>
          <tbody>
            {lines.map((l, i) => (
              <tr key={i} className={`diff-${l.kind}`}>
                <td className="diff-no">{l.old ?? ''}</td>
                <td className="diff-no">{l.new ?? ''}</td>
                <td className="diff-text">
                  {SPOKEN[l.kind] ? <span className="visually-hidden">{SPOKEN[l.kind]}</span> : null}
                  <span aria-hidden={SPOKEN[l.kind] ? true : undefined} className="diff-sign">
                    {SIGN[l.kind] ?? ''}
                  </span>
                  {l.text}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
