import { renderToStaticMarkup } from 'react-dom/server';
import { DiffView, diffStat, parseUnifiedDiff } from './diff-view';

const DIFF = [
  '--- channels/lab.yaml (version 1, 2026-12-01 10:00:00 UTC)',
  '+++ channels/lab.yaml (version 2, 2026-12-02 10:00:00 UTC)',
  '@@ -3,4 +3,5 @@',
  ' source: { type: mllp }',
  '-ack: { when: received }',
  '+ack: { when: processed }',
  '+keys: { mrn: PID-3.1 }',
  ' pipeline:',
  '   - map: { transformer: oru-to-fhir }',
  '@@ -20,2 +21,2 @@',
  '-    retry: { attempts: 1 }',
  '+    retry: { attempts: 5 }',
  '\\ No newline at end of file',
  '',
].join('\n');

describe('unified diffs', () => {
  it('numbers each line from its hunk header, old and new', () => {
    const lines = parseUnifiedDiff(DIFF);
    expect(lines.map((l) => [l.kind, l.old ?? null, l.new ?? null, l.text])).toEqual([
      ['file', null, null, '--- channels/lab.yaml (version 1, 2026-12-01 10:00:00 UTC)'],
      ['file', null, null, '+++ channels/lab.yaml (version 2, 2026-12-02 10:00:00 UTC)'],
      ['hunk', null, null, '@@ -3,4 +3,5 @@'],
      ['context', 3, 3, 'source: { type: mllp }'],
      ['del', 4, null, 'ack: { when: received }'],
      ['add', null, 4, 'ack: { when: processed }'],
      ['add', null, 5, 'keys: { mrn: PID-3.1 }'],
      ['context', 5, 6, 'pipeline:'],
      ['context', 6, 7, '  - map: { transformer: oru-to-fhir }'],
      ['hunk', null, null, '@@ -20,2 +21,2 @@'],
      ['del', 20, null, '    retry: { attempts: 1 }'],
      ['add', null, 21, '    retry: { attempts: 5 }'],
      ['note', null, null, '\\ No newline at end of file'],
    ]);
    expect(diffStat(lines)).toBe('3 lines added, 2 lines removed');
  });

  it('a removed line starting with "--" inside a hunk is a removal, not a file header', () => {
    const lines = parseUnifiedDiff('@@ -1,1 +1,1 @@\n--- a yaml document marker\n+++ another\n');
    expect(lines.map((l) => l.kind)).toEqual(['hunk', 'del', 'add']);
  });

  it('shows added and removed lines with their sign and in words for screen readers', () => {
    const html = renderToStaticMarkup(<DiffView diff={DIFF} label="From version 1 to version 2" />);
    expect(html).toContain('aria-label="From version 1 to version 2"');
    expect(html).toContain('<tr class="diff-add">');
    expect(html).toContain('added: </span>');
    expect(html).toContain('removed: </span>');
    expect(html).toContain('3 lines added, 2 lines removed');
    expect(html).toContain('<th scope="col" class="diff-no">Old</th>');
  });

  it('says so when the versions are the same', () => {
    expect(renderToStaticMarkup(<DiffView diff="" label="x" />)).toContain('The two versions are the same.');
  });
});
