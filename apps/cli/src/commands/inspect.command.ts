import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { runInspect, type InspectOptions } from '../inspect/inspect';
import { styleFor } from '../inspect/style';

const EXAMPLES = `
Examples:
  $ sinew inspect channels/samples/adt-a01.hl7
  $ sinew inspect --json channels/samples/oru-r01.hl7
  $ sinew inspect --get PID-5.1 --get OBX[2]-5 channels/samples/oru-r01.hl7
  $ cat batch.hl7 | sinew inspect -

Exit status: 0 when every file was shown, 1 when a file could not be read or parsed (the
others are still shown), 2 for a usage error or a malformed --get path.
Reference: docs/cli.md`;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description("show HL7 v2 messages field by field, with the standard's field names")
    .argument('<files...>', 'files of one message, several messages or a batch (- reads standard input)')
    .addOption(new Option('--json', 'print a JSON tree of each message'))
    .addOption(
      new Option(
        '--get <path>',
        'print only the decoded value at PATH, e.g. PID-5.1 or OBX[2]-5 (repeatable)',
      )
        .argParser(collect)
        .conflicts('json'),
    )
    .addHelpText('after', EXAMPLES)
    .exitOverride((err) => {
      // Usage errors exit 2 (commander's 1 would read as "a file did not parse").
      process.exit(err.exitCode === 0 ? 0 : 2);
    })
    .action((files: string[], options: InspectOptions) => {
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        // A reader that went away (`| head`) is not an error.
        if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
        throw err;
      });
      process.exitCode = runInspect(files, options, {
        readFile: (file) => readFileSync(file === '-' ? 0 : file),
        stdout: (text) => process.stdout.write(text),
        stderr: (text) => process.stderr.write(text),
        style: styleFor(process.stdout, process.env),
      });
    });
}
