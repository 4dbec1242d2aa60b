import { Option, type Command } from 'commander';
import {
  EnvironmentError,
  formatProblem,
  lintPaths,
  loadEnvironment,
  type ChannelEnvironment,
  type LintProblem,
  type LintReport,
} from '@sinew/channels';
import { DESTINATIONS, SOURCES } from '@sinew/connectors';

const EXAMPLES = `
Examples:
  $ sinew lint                                    # the channels/ folder
  $ sinew lint channels transformers
  $ sinew lint --env production channels          # environments/production.yaml; unset \${VAR} are errors
  $ sinew lint --format json channels/lab-results.yaml

Each finding is one line: file:line:col severity code message. A folder's *.yaml files
(not *.test.yaml) are channel files, or transformer files when they have a top-level
transformer:, map: or vocabulary: key. Exit status: 0 when there is no error (warnings allowed), 1 when there
is an error, 2 when an input cannot be read or for a usage error.
Reference: docs/cli.md, docs/reference/lint-codes.md`;

interface LintCommandOptions {
  env?: string;
  transformers?: string[];
  format: 'text' | 'json';
  quiet?: boolean;
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
    .description('check channel and transformer files: every problem as file:line:col severity code message')
    .argument('[paths...]', 'channel or transformer files and folders (default: channels)')
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
    .addHelpText('after', EXAMPLES)
    .exitOverride((err) => {
      // Usage errors exit 2 (1 means the files have errors).
      process.exit(err.exitCode === 0 ? 0 : 2);
    })
    .action((paths: string[], options: LintCommandOptions) => {
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
        throw err;
      });
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
      const report = lintPaths(paths.length ? paths : ['channels'], {
        connectors: { sources: SOURCES, destinations: DESTINATIONS },
        env,
        transformerDirs: options.transformers ?? [],
      });
      for (const u of report.unreadable) process.stderr.write(`sinew: ${u.path}: ${u.reason}\n`);
      const shown: LintProblem[] = options.quiet
        ? report.problems.filter((p) => p.severity === 'error')
        : report.problems;
      if (options.format === 'json') process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      else for (const p of shown) process.stdout.write(`${formatProblem(p)}\n`);
      process.stderr.write(`${lintSummary(report, options.quiet === true)}\n`);
      process.exitCode = report.unreadable.length ? 2 : shown.some((p) => p.severity === 'error') ? 1 : 0;
    });
}
