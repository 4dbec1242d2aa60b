import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import {
  compileChannelSet,
  formatProblem,
  LintCode,
  lintPaths,
  type ChannelEnvironment,
  type LintReport,
} from '@sinew/channels';
import { BROKEN_CASES } from './broken/cases';
import { RECONCILE_BROKEN_CASES } from '../../reconcile/test/broken/cases';

const BROKEN = join(__dirname, 'broken');
const connectors = { sources: SOURCES, destinations: DESTINATIONS };
const lax: ChannelEnvironment = { values: {}, strict: false };
const strict: ChannelEnvironment = { name: 'test', values: {}, strict: true };

/** `sinew lint INPUT` run in the broken/ folder (`--env test` when the case says so). */
function lint(input: string, env: ChannelEnvironment = lax): LintReport {
  return lintPaths([join(BROKEN, input)], {
    connectors,
    env,
    displayPath: (p) => relative(BROKEN, p),
  });
}

describe('a broken file per lint code', () => {
  it.each(BROKEN_CASES.map((c) => [`${c.code} (${c.input}${c.env ? ', --env test' : ''})`, c] as const))(
    '%s',
    (_name, c) => {
      const report = lint(c.input, c.env ? strict : lax);
      expect(report.unreadable).toEqual([]);
      expect(report.problems.map(formatProblem)).toEqual(c.lines);
      expect(report.problems.map((p) => p.code)).toContain(c.code);
    },
  );

  it('points at the node at fault, never at the top of the document', () => {
    for (const c of BROKEN_CASES)
      for (const p of lint(c.input, c.env ? strict : lax).problems)
        expect(`${p.file}:${p.line}:${p.column}`).not.toMatch(/:1:1$/);
  });

  it('covers every code (file.unreadable and channel.empty_folder below; reconciliation files in libs/reconcile/test)', () => {
    const covered = new Set<string>([
      ...BROKEN_CASES.map((c) => c.code),
      ...RECONCILE_BROKEN_CASES.map((c) => c.code),
      LintCode.Unreadable,
      LintCode.EmptyFolder,
    ]);
    expect(Object.values(LintCode).filter((code) => !covered.has(code))).toEqual([]);
  });

  it('file.unreadable: a channel file that cannot be read', () => {
    const transformers = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
    const set = compileChannelSet(
      [join(BROKEN, 'no-such-channel.yaml')],
      { ...connectors, transformers },
      { env: lax },
      (p) => relative(BROKEN, p),
    );
    expect(set.problems.map(formatProblem)).toEqual([
      'no-such-channel.yaml:1:1 error file.unreadable cannot read the file (ENOENT)',
    ]);
  });

  it('channel.empty_folder: a folder without channel or transformer files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-lint-'));
    try {
      const report = lintPaths([dir], { connectors, env: lax, displayPath: () => 'empty' });
      expect(report.problems.map(formatProblem)).toEqual([
        'empty:1:1 warning channel.empty_folder no channel or transformer files (*.yaml) in this folder',
      ]);
      expect(report.files).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing input is reported apart from the findings', () => {
    const report = lint('no-such-folder');
    expect(report.unreadable).toEqual([
      { path: join(BROKEN, 'no-such-folder'), reason: 'no such file or folder' },
    ]);
    expect(report.problems).toEqual([]);
  });
});
