import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { SOURCES, DESTINATIONS } from '@sinew/connectors';
import {
  formatProblem,
  LintCode,
  lintPaths,
  type ChannelEnvironment,
  type LintReport,
} from '@sinew/channels';
import { reconciliationLinter } from '@sinew/reconcile';
import { RECONCILE_BROKEN_CASES, TEST_SIDE_SCHEMAS } from './broken/cases';

const BROKEN = join(__dirname, 'broken');
const lax: ChannelEnvironment = { values: {}, strict: false };

/** `sinew lint INPUT` run in the broken/ folder. */
function lint(input: string): LintReport {
  return lintPaths([join(BROKEN, input)], {
    connectors: { sources: SOURCES, destinations: DESTINATIONS },
    env: lax,
    displayPath: (p) => relative(BROKEN, p),
    otherFiles: [reconciliationLinter({ sideSchemas: TEST_SIDE_SCHEMAS })],
  });
}

describe('a broken reconciliation file per lint code', () => {
  it.each(RECONCILE_BROKEN_CASES.map((c) => [`${c.code} (${c.input})`, c] as const))('%s', (_name, c) => {
    const report = lint(c.input);
    expect(report.unreadable).toEqual([]);
    expect(report.problems.map(formatProblem)).toEqual(c.lines);
    expect(report.problems.map((p) => p.code)).toContain(c.code);
  });

  it('covers every reconciliation code and every file of the folder', () => {
    const covered = new Set(RECONCILE_BROKEN_CASES.map((c) => c.code));
    expect(Object.values(LintCode).filter((c) => c.startsWith('reconcile.') && !covered.has(c))).toEqual([]);
    expect(
      readdirSync(BROKEN)
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
    ).toEqual(RECONCILE_BROKEN_CASES.map((c) => c.input).sort());
  });
});
