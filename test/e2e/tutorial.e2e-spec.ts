import { spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort, ROOT } from '@sinew/test-support/engine-process';
import { sleep, waitFor } from '@sinew/test-support/wait';

/**
 * Runs docs/tutorial.md as a reader would, so that the page cannot drift from what the commands
 * do. The conventions the page follows are in the HTML comment at its top: ```yaml blocks whose
 * first line is `# file: PATH` are written there (that line left out); each line of a ```sh block is a command (`# exit N`:
 * the status expected, `# background`: a long-running command, stopped at the end).
 */

const TUTORIAL = join(ROOT, 'docs', 'tutorial.md');
const SINEW = join(ROOT, 'bin', 'sinew.js');

type Step =
  | { kind: 'file'; line: number; path: string; text: string }
  | { kind: 'command'; line: number; command: string; exit: number; background: boolean };

/** The files and commands of the page, in the order a reader meets them. */
function readTutorial(markdown: string): Step[] {
  const lines = markdown.split('\n');
  const steps: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
    if (end >= lines.length) throw new Error(`docs/tutorial.md:${i + 1}: the block is not closed`);
    const body = lines.slice(start, end);
    const language = open[1];
    if (language === 'yaml') {
      const marker = /^# file: (\S+)\s*$/.exec(body[0] ?? '');
      if (marker?.[1])
        steps.push({ kind: 'file', line: start + 1, path: marker[1], text: body.slice(1).join('\n') + '\n' });
    } else if (language === 'sh') {
      body.forEach((text, k) => {
        const command = text.trim();
        if (command === '' || command.startsWith('#')) return;
        const mark = /\s+#\s*(?:exit (\d+)|(background))\s*$/.exec(command);
        steps.push({
          kind: 'command',
          line: start + k + 1,
          command: mark ? command.slice(0, mark.index) : command,
          exit: mark?.[1] !== undefined ? Number(mark[1]) : 0,
          background: mark?.[2] !== undefined,
        });
      });
    }
    i = end;
  }
  return steps;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** `npx sinew` as the built command of this checkout. */
const withBuiltCli = (command: string) => command.replace(/\bnpx sinew\b/g, `node ${JSON.stringify(SINEW)}`);

/** The environment of the commands: the caller's, without what would point the engine elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of Object.keys(env))
    if (/^(SINEW_|DATABASE_|REDIS_)/.test(name) || name === 'LAB_PORT') delete env[name];
  return env;
}

jest.setTimeout(300_000);

describe('docs/tutorial.md', () => {
  const steps = readTutorial(readFileSync(TUTORIAL, 'utf8'));
  let root: string;
  const background: { line: number; command: string; child: ChildProcess; output: () => string }[] = [];

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'sinew-tutorial-'));
    // The working folder is made inside the checkout: what the page reads from there is copied.
    mkdirSync(join(root, 'channels', 'samples'), { recursive: true });
    copyFileSync(
      join(ROOT, 'channels', 'samples', 'oru-r01.hl7'),
      join(root, 'channels', 'samples', 'oru-r01.hl7'),
    );
  });

  afterAll(async () => {
    for (const b of background)
      if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL');
    await sleep(100);
    rmSync(root, { recursive: true, force: true });
  });

  it('has files to write and commands to run', () => {
    expect(steps.filter((s) => s.kind === 'file').length).toBeGreaterThanOrEqual(3);
    const commands = steps.flatMap((s) => (s.kind === 'command' ? [s.command] : []));
    for (const c of [
      'lint',
      'test',
      'start',
      'send',
      'diff',
      'deploy',
      'history',
      'rollback',
      'config show',
      'reprocess',
    ])
      expect(commands.some((command) => command.startsWith(`npx sinew ${c}`))).toBe(true);
  });

  it('runs top to bottom with the exit status each command is documented to have', async () => {
    const env = cleanEnv();
    let cwd = root;
    const outputs: { command: string; run: Run }[] = [];
    const where = (line: number, command: string) => `docs/tutorial.md:${line}: ${command}`;

    for (const step of steps) {
      if (step.kind === 'file') {
        const path = resolve(cwd, step.path);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, step.text);
        continue;
      }
      const { command, line } = step;
      const cd = /^cd (\S+)$/.exec(command)?.[1];
      if (cd) {
        cwd = resolve(cwd, cd);
        expect(existsSync(cwd)).toBe(true);
        continue;
      }
      const exported = /^export (\w+)=\S*$/.exec(command)?.[1];
      if (exported) {
        // Ports: free ones instead of the page's defaults.
        if (!['LAB_PORT', 'SINEW_HTTP_PORT'].includes(exported))
          throw new Error(`${where(line, command)}: the test does not know ${exported}`);
        env[exported] = String(await freePort());
        continue;
      }
      if (step.background) {
        const child = spawn('bash', ['-c', `exec ${withBuiltCli(command)}`], {
          cwd,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
        background.push({ line, command, child, output: () => output });
        await waitFor(
          `${where(line, command)} to be ready`,
          async () => {
            if (child.exitCode !== null)
              throw new Error(`${where(line, command)} exited ${child.exitCode}\n${output}`);
            return fetch(`http://127.0.0.1:${env.SINEW_HTTP_PORT}/ready`).then(
              (r) => r.ok,
              () => false,
            );
          },
          90_000,
          200,
        );
        continue;
      }
      const result = await run(withBuiltCli(command), cwd, env);
      outputs.push({ command, run: result });
      if (result.code !== step.exit)
        throw new Error(
          `${where(line, command)}: exit status ${result.code}, documented ${step.exit}\n` +
            `--- stdout\n${result.stdout}--- stderr\n${result.stderr}`,
        );
    }

    // What the page says the commands print and do.
    const out = (prefix: string) =>
      outputs
        .filter((o) => o.command.startsWith(prefix))
        .map((o) => o.run.stdout + o.run.stderr)
        .join('\n');
    expect(out('npx sinew lint channels')).toContain('did you mean validate?');
    expect(out('npx sinew test')).toContain('3 passed, 0 failed');
    expect(out('npx sinew send --port $LAB_PORT no-mrn.hl7')).toMatch(/DEMO-ORU-0002\tAE\t/);
    expect(out('npx sinew reprocess')).toMatch(/\tlab\t.*\trejected\tlab\.mrn/);
    expect(out('npx sinew diff')).toMatch(/notice: added\n\s+archive: removed/);
    expect(out('npx sinew rollback')).toContain('recorded as version 3 (by rollback)');
    expect(out('npx sinew history lab --diff 1')).toContain('+  - name: notice');
    const files = (dir: string) => (existsSync(join(cwd, dir)) ? readdirSync(join(cwd, dir)) : []);
    await waitFor(
      'the deliveries the page describes',
      () => files('out/ehr').length === 2 && files('out/notice').length === 1,
      30_000,
      100,
    );
    expect(files('out/archive')).toHaveLength(1);
    const first = steps.find((s) => s.kind === 'file' && s.path === 'channels/lab.yaml');
    expect(readFileSync(join(cwd, 'channels', 'lab.yaml'), 'utf8')).toBe(
      first?.kind === 'file' ? first.text : undefined,
    );

    // The engine stops as the page says (Ctrl-C: SIGINT), with exit status 0.
    for (const b of background) {
      const exited = new Promise<number | null>((done) => b.child.once('exit', (code) => done(code)));
      b.child.kill('SIGINT');
      const code = await exited;
      if (code !== 0)
        throw new Error(`${where(b.line, b.command)}: exit status ${code} on Ctrl-C\n${b.output()}`);
    }
  });
});
