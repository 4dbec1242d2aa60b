import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerImport } from './import.command';

const FIXTURES = join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'mirth');

/** `sinew import mirth ARGS`: its exit status and what it printed. */
async function sinew(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const program = new Command('sinew');
  registerImport(program);
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'sinew', 'import', 'mirth', ...args]);
    return { status: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

describe('sinew import mirth', () => {
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'sinew-import-cli-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  const folders = () => ['--out', join(tmp, 'channels'), '--transformers-out', join(tmp, 'transformers')];

  it('writes the channels, transformers and report, lists them and sums up the report', async () => {
    const r = await sinew([join(FIXTURES, 'authored', 'adt-mllp-router.xml'), ...folders()]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^wrote .*channels\/adt-router\.yaml$/),
      expect.stringMatching(/^wrote .*transformers\/adt-router-values\.yaml$/),
      expect.stringMatching(/^wrote .*transformers\/adt-router-message\.yaml$/),
      expect.stringMatching(/^wrote .*channels\/IMPORT-REPORT\.md$/),
    ]);
    expect(r.stderr).toMatch(
      /^1 channel\(s\): \d+ element\(s\) converted exactly, \d+ approximately, \d+ not converted \(see .*IMPORT-REPORT\.md\)\n$/,
    );
  });

  it('exits 2 without writing when a file exists, and replaces it with --force', async () => {
    const input = join(FIXTURES, 'authored', 'pms-db-poll.xml');
    expect((await sinew([input, ...folders()])).status).toBe(0);
    const again = await sinew([input, ...folders()]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^sinew: this file exists: .*IMPORT-REPORT\.md; give --force to replace/);
    expect(readdirSync(join(tmp, 'channels')).sort()).toEqual([
      'IMPORT-REPORT.md',
      'pms-appointments-poll.yaml',
    ]);
    expect((await sinew([input, ...folders(), '--force'])).status).toBe(0);
  });

  it('exits 2 naming the file when an input is not a Mirth export or cannot be read', async () => {
    const odd = join(tmp, 'odd.xml');
    writeFileSync(odd, '<channel><name>x</channel>');
    const bad = await sinew([odd, ...folders()]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(
      `sinew: ${odd}: not well-formed XML at line 1, column 17: Expected closing tag 'name' (opened in line 1, col 10) instead of closing tag 'channel'.\n`,
    );
    const missing = await sinew([join(tmp, 'missing.xml'), ...folders()]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe(`sinew: ${join(tmp, 'missing.xml')}: cannot read it (ENOENT)\n`);
    expect(existsSync(join(tmp, 'channels'))).toBe(false);
  });
});
