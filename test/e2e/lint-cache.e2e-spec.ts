import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const BROKEN = 'libs/channels/test/broken';

/** `node bin/sinew.js lint …` in the checkout, with the parse cache in `cache` (`SINEW_CACHE_DIR`). */
function lint(args: string[], cache: string): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, SINEW_CACHE_DIR: cache };
  delete env.SINEW_ENV;
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sinew.js'), 'lint', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sinew lint parse cache (built command)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-lint-cache-e2e-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes its cache to SINEW_CACHE_DIR and prints the same findings from it', () => {
    const cache = join(dir, 'cache');
    const inputs = [`${BROKEN}/transformer-invalid.yaml`, `${BROKEN}/bad-enum.yaml`];
    const first = lint(inputs, cache);
    expect(first.status).toBe(1);
    expect(first.stdout).toContain(
      `${BROKEN}/transformer-invalid.yaml:9:10 error transformer.invalid no map named PID[Patinet] (map.unknown)\n`,
    );
    const written = JSON.parse(readFileSync(join(cache, 'transformers.json'), 'utf8')) as {
      entries: Record<string, string>;
    };
    expect(Object.keys(written.entries).length).toBeGreaterThan(100);

    const second = lint(inputs, cache);
    expect(second).toEqual(first);
    expect(lint(['--no-cache', ...inputs], cache)).toEqual(first);
  });

  it('writes nothing with --no-cache or SINEW_CACHE_DIR=off', () => {
    const cache = join(dir, 'cache');
    expect(lint(['--no-cache', '--quiet', 'channels', 'transformers'], cache).status).toBe(0);
    expect(existsSync(cache)).toBe(false);
    const off = lint(['--quiet', 'channels', 'transformers'], 'off');
    expect(off.status).toBe(0);
    expect(existsSync(join(ROOT, 'off'))).toBe(false);
  });

  it('ignores a corrupt cache file and replaces it', () => {
    const cache = dir;
    writeFileSync(join(cache, 'transformers.json'), '{"format": "sinew-transformer-parse/1", "entries": ');
    const r = lint([`${BROKEN}/transformer-invalid.yaml`], cache);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(
      `${BROKEN}/transformer-invalid.yaml:9:10 error transformer.invalid no map named PID[Patinet] (map.unknown)\n`,
    );
    const written = JSON.parse(readFileSync(join(cache, 'transformers.json'), 'utf8')) as {
      entries: Record<string, string>;
    };
    expect(Object.keys(written.entries).length).toBeGreaterThan(100);
  });
});
