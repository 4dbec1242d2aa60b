import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { ExistingFileError, importMirthFiles, MirthImportError, reportCounts } from '@sinew/import-mirth';

const EXAMPLES = `
Examples:
  $ sinew import mirth exports/adt-router.xml                 # one channel export → channels/
  $ sinew import mirth backup/server-config.xml --out imported/channels
  $ sinew import mirth exports/*.xml --force                  # replace files written by an earlier run

Each Mirth channel becomes OUT/<id>.yaml; the rules of its Mapper and Message Builder steps go
to transformer files (--transformers-out); OUT/IMPORT-REPORT.md lists, per channel, what
converted exactly, approximately (and how) and not (the Mirth element path and why), with
JavaScript kept as written. Passwords in the exports are never copied: the channel files name
environment variables instead. Check the result with sinew lint OUT --transformers DIR.
Exit status: 0 when the files were written, 2 when an export cannot be read or is not a Mirth
export, or a file to write exists (without --force); nothing is written then.
Reference: docs/import-mirth.md`;

interface ImportMirthOptions {
  out: string;
  transformersOut?: string;
  force?: boolean;
}

export function registerImport(program: Command): void {
  const imp = program.command('import').description('bring channels over from another integration engine');
  imp
    .command('mirth')
    .description(
      'convert Mirth Connect / Open Integration Engine channel exports and server backups into channel and transformer files, with IMPORT-REPORT.md',
    )
    .argument(
      '<files...>',
      'channel exports (<channel version=…>), server configuration backups or code template libraries',
    )
    .addOption(
      new Option('--out <dir>', 'folder for the channel files and IMPORT-REPORT.md').default('channels'),
    )
    .addOption(
      new Option(
        '--transformers-out <dir>',
        'folder for the transformer files (default: transformers/mirth)',
      ),
    )
    .addOption(new Option('--force', 'replace files that exist'))
    .addHelpText('after', EXAMPLES)
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action((files: string[], options: ImportMirthOptions) => {
      try {
        const { result, files: written } = importMirthFiles(files, {
          out: options.out,
          transformersOut: options.transformersOut ?? join('transformers', 'mirth'),
          force: options.force === true,
        });
        for (const w of written) process.stdout.write(`wrote ${w}\n`);
        const counts = reportCounts(result.report);
        process.stderr.write(
          `${result.channels.length} channel(s): ${counts.exact} element(s) converted exactly, ${counts.approximate} approximately, ` +
            `${counts.not_converted} not converted (see ${join(options.out, 'IMPORT-REPORT.md')})\n`,
        );
      } catch (err) {
        if (err instanceof MirthImportError || err instanceof ExistingFileError) {
          process.stderr.write(`sinew: ${err.message}\n`);
          process.exitCode = 2;
          return;
        }
        const code = (err as NodeJS.ErrnoException).code;
        const path = (err as NodeJS.ErrnoException).path;
        if (code && path) {
          process.stderr.write(`sinew: ${path}: cannot read it (${code})\n`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
    });
}
