import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BUILT_IN_TRANSFORMERS } from '@sinew/mapping';
import { channelFiles } from '@sinew/channels';
import { runTests } from '@sinew/channels/testing';

/** `npm test` runs what `sinew test` runs: every shipped channel test and transformer test. */
describe('shipped tests (sinew test channels transformers)', () => {
  const root = join(BUILT_IN_TRANSFORMERS, '..');
  const channels = join(root, 'channels');
  const run = runTests([channels, BUILT_IN_TRANSFORMERS]);

  it('every shipped channel has a channel test file', () => {
    const untested = channelFiles(channels).filter((f) => !existsSync(f.replace(/\.ya?ml$/, '.test.yaml')));
    expect(untested).toEqual([]);
    expect(run.files.channel).toBeGreaterThan(0);
    expect(run.files.transformer).toBeGreaterThan(0);
  });

  it('every case passes', () => {
    const failing = run.results
      .filter((r) => !r.passed)
      .map((r) => [`${r.file}:${r.line} ${r.name}`, ...r.failures.map((f) => `    ${f}`)].join('\n'));
    expect(failing).toEqual([]);
  });
});
