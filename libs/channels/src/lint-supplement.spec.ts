import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { formatProblem, lintPaths } from '@sinew/channels';

/** `sinew lint FILE` on a vocabulary supplement (`supplement:`), read as a transformer file. */
describe('sinew lint checks vocabulary supplements', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'sinew-lint-supplement-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  const lint = (text: string): string[] => {
    const file = join(tmp, 'site-codes.yaml');
    writeFileSync(file, text);
    const report = lintPaths([file], {
      connectors: { sources: SOURCES, destinations: DESTINATIONS },
      env: { values: {}, strict: false },
      displayPath: (p) => relative(tmp, p),
    });
    return report.problems.map(formatProblem);
  };

  it('accepts a supplement of a built-in vocabulary', () => {
    expect(lint('supplement: FillerStatusCodes[Appointment]\ncodes:\n  Tentative: pending\n')).toEqual([]);
  });

  it('reports a supplement of a vocabulary that does not exist at its line and column', () => {
    expect(
      lint('# site codes\nsupplement: FillerStatusCodes[Apointment]\ncodes:\n  Dc: cancelled\n'),
    ).toEqual([
      expect.stringMatching(
        /^site-codes\.yaml:2:13 .*no vocabulary named FillerStatusCodes\[Apointment\] to supplement \(map\.unknown\)/,
      ),
    ]);
  });
});
