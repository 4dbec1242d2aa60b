import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, relative } from 'node:path';
import { Option, type Command } from 'commander';
import {
  EnvironmentError,
  formatProblem,
  LintCode,
  lintPaths,
  sortProblems,
  loadEnvironment,
  type ChannelEnvironment,
  type LintProblem,
  type LintReport,
} from '@sinew/channels';
import { TransformerParseCache } from '@sinew/mapping';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { adapterSchemas, isReconciliationText, reconciliationLinter } from '@sinew/reconcile/lint';
import { callApi, withApiErrors } from './api-client';

const EXAMPLES = `
Examples:
  $ sinew lint                                    # the channels/ folder (and reconciliations/ when there is one)
  $ sinew lint reconciliations/demo.yaml
  $ sinew lint channels transformers
  $ sinew lint --env production channels          # environments/production.yaml; unset \${VAR} are errors
  $ sinew lint --format json channels/lab-results.yaml
  $ SINEW_TOKEN=snw_… sinew lint --server http://sinew:8080 channels   # the engine's connectors, transformers, environment

Each finding is one line: file:line:col severity code message. A folder's *.yaml files
(not *.test.yaml) are channel files, or transformer files when they have a top-level
transformer:, map: or vocabulary: key, or reconciliation files when they have a top-level entities: key. Exit status: 0 when there is no error (warnings allowed), 1 when there
is an error, 2 when an input cannot be read or for a usage error. With --server the files are sent
to a running engine (the key needs channels:read), which checks them against its own connectors,
transformers and environment (unset \${VAR} are errors, as its deploy takes them); exit 1 also
when the server refuses.
Reference: docs/cli.md, docs/reference/lint-codes.md`;

interface LintCommandOptions {
  server?: string;
  env?: string;
  transformers?: string[];
  format: 'text' | 'json';
  quiet?: boolean;
  /** false with --no-cache. */
  cache: boolean;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `2 errors, 1 warning in 3 files` (errors only with --quiet). */
export function lintSummary(report: LintReport, quiet: boolean): string {
  const errors = report.problems.filter((p) => p.severity === 'error').length;
  const warnings = report.problems.length - errors;
  const counts = quiet
    ? plural(errors, 'error')
    : `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
  return `${counts} in ${plural(report.files, 'file')}`;
}

export function registerLint(program: Command): void {
  program
    .command('lint')
    .description(
      'check channel, transformer and reconciliation files: every problem as file:line:col severity code message',
    )
    .argument(
      '[paths...]',
      'channel, transformer or reconciliation files and folders (default: channels, and reconciliations when it exists)',
    )
    .addOption(
      new Option(
        '--env <name>',
        'check against environments/NAME.yaml (and the process environment); unset ${VAR} are errors',
      ),
    )
    .addOption(new Option('--transformers <dir...>', 'extra transformer folders, as sinew start takes them'))
    .addOption(
      new Option('--format <format>', 'text: one line per finding; json: an array of findings')
        .choices(['text', 'json'])
        .default('text'),
    )
    .addOption(new Option('--quiet', 'report errors only'))
    .addOption(
      new Option(
        '--no-cache',
        'parse every transformer file again, without the parse cache (SINEW_CACHE_DIR; off: none)',
      ),
    )
    .addOption(
      new Option('--server <url>', 'check on a running engine\u2019s admin API (SINEW_TOKEN)').conflicts([
        'env',
        'transformers',
      ]),
    )
    .addHelpText('after', EXAMPLES)
    .exitOverride((err) => {
      // Usage errors exit 2 (1 means the files have errors).
      process.exit(err.exitCode === 0 ? 0 : 2);
    })
    .action(async (paths: string[], options: LintCommandOptions) => {
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
        throw err;
      });
      if (options.server) {
        const server = options.server;
        await withApiErrors('lint', async () => {
          const report = await lintOnServer(server, paths.length ? paths : defaultPaths());
          print(report, options);
        });
        return;
      }
      let env: ChannelEnvironment;
      try {
        env = options.env
          ? loadEnvironment(process.env, { name: options.env, strict: true })
          : loadEnvironment(process.env, { strict: false });
      } catch (err) {
        if (!(err instanceof EnvironmentError)) throw err;
        process.stderr.write(`sinew: ${err.message}\n`);
        process.exitCode = 2;
        return;
      }
      const report = lintPaths(paths.length ? paths : defaultPaths(), {
        connectors: { sources: SOURCES, destinations: DESTINATIONS },
        env,
        transformerDirs: options.transformers ?? [],
        parseCache: options.cache ? TransformerParseCache.fromEnv(process.env) : undefined,
        otherFiles: [reconciliationLinter({ sideSchemas: adapterSchemas() })],
      });
      print(report, options);
    });
}

/** What `sinew lint` checks when given no path: channels/, and reconciliations/ when there is one. */
function defaultPaths(): string[] {
  return ['channels', ...(existsSync('reconciliations') ? ['reconciliations'] : [])];
}

/** The findings, the summary line and the exit status, with or without --server. */
function print(report: LintReport, options: LintCommandOptions): void {
  for (const u of report.unreadable) process.stderr.write(`sinew: ${u.path}: ${u.reason}\n`);
  const shown: LintProblem[] = options.quiet
    ? report.problems.filter((p) => p.severity === 'error')
    : report.problems;
  if (options.format === 'json') process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  else for (const p of shown) process.stdout.write(`${formatProblem(p)}\n`);
  process.stderr.write(`${lintSummary(report, options.quiet === true)}\n`);
  process.exitCode = report.unreadable.length ? 2 : shown.some((p) => p.severity === 'error') ? 1 : 0;
}

/** A path as sinew lint names it: as written; an absolute one inside the working folder, relative. */
function shownPath(path: string): string {
  if (!isAbsolute(path)) return normalize(path);
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** `*.yaml` files (not `*.test.yaml`) under `dir` and its subfolders, sorted, as sinew lint finds them. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry) && !/\.test\.ya?ml$/.test(entry)) out.push(path);
  }
  return out;
}

/** Reads the inputs as sinew lint does and has the server check them. */
async function lintOnServer(server: string, paths: readonly string[]): Promise<LintReport> {
  const files: Array<{ name: string; content: string }> = [];
  const seen = new Set<string>();
  const problems: LintProblem[] = [];
  const unreadable: LintReport['unreadable'] = [];
  const take = (path: string, named: boolean) => {
    const name = shownPath(path);
    if (seen.has(name)) return;
    try {
      files.push({ name, content: readFileSync(path, 'utf8') });
      seen.add(name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      if (named) unreadable.push({ path, reason: `cannot read the file (${code})` });
      else
        problems.push({
          file: name,
          line: 1,
          column: 1,
          severity: 'error',
          code: LintCode.Unreadable,
          path: '',
          message: `cannot read the file (${code})`,
        });
    }
  };
  for (const input of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(input).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      unreadable.push({
        path: input,
        reason: code === 'ENOENT' ? 'no such file or folder' : `cannot read it (${code ?? 'error'})`,
      });
      continue;
    }
    if (!isDir) {
      if (!/\.test\.ya?ml$/.test(input)) take(input, true);
      continue;
    }
    const found = yamlFiles(input);
    if (found.length === 0)
      problems.push({
        file: shownPath(input),
        line: 1,
        column: 1,
        severity: 'warning',
        code: LintCode.EmptyFolder,
        path: '',
        message: 'no channel or transformer files (*.yaml) in this folder',
      });
    for (const f of found) take(f, false);
  }
  // The engine checks channel and transformer files; reconciliation files are checked here.
  const reconciliations = files.filter((f) => isReconciliationText(f.content));
  if (reconciliations.length) {
    problems.push(
      ...reconciliationLinter({ sideSchemas: adapterSchemas() }).lint(
        reconciliations.map((f) => ({ path: f.name, file: f.name, text: f.content })),
        loadEnvironment(process.env, { strict: false }),
      ),
    );
    files.splice(0, files.length, ...files.filter((f) => !isReconciliationText(f.content)));
  }
  let checked = reconciliations.length;
  if (files.length > 0) {
    const answer = await callApi<{ problems: LintProblem[]; files: number }>(
      'lint',
      server,
      'POST',
      '/api/v1/channels/lint',
      { files },
    );
    problems.push(...answer.problems);
    checked += answer.files;
  }
  return { problems: sortProblems(problems), files: checked, unreadable };
}
