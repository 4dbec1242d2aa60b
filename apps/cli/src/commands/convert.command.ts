import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { parseParamOption } from '@sinew/mapping';
import { runConvert, type ConvertOptions } from '../convert/convert';

const EXAMPLES = `
Examples:
  $ sinew convert channels/samples/adt-a01.hl7                 # HL7 v2 → FHIR transaction Bundle
  $ sinew convert --validate channels/samples/oru-r01.hl7
  $ sinew convert --map patient-to-adt --to hl7v2 patient.json  # FHIR → HL7 v2 (ADT^A31)
  $ sinew convert --map patient-to-adt --param event=A28 patient.json  # the same map, ADT^A28

--param name=value (repeatable) sets a parameter of the --map transformer (its params:, listed
in docs/builtin-maps.md); an unknown name or a value it does not take is a usage error (exit 2).
With --map, --to is a check: a map that produces another kind than --to names is a usage error
(exit 2) that says what the map produces; the output is never converted a second time.
Warnings (an optional element left out because its value could not be converted, a required
element given its default) go to stderr as "FILE: warning CODE SOURCE → TARGET: message"; they
do not change the exit status.
Exit status: 0 when every message converted (and validated, with --validate), 1 when one did
not, 2 for a usage error. Reference: docs/transformers.md`;

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description(
      'convert messages with the built-in transformers (HL7 v2 → FHIR R4, FHIR → HL7 v2, HL7 v2 → JSON)',
    )
    .argument('<files...>', 'HL7 v2 files (one message, several, or a batch) or JSON/FHIR documents')
    .addOption(new Option('--map <name>', 'use this transformer instead of choosing one by MSH-9'))
    .addOption(
      new Option(
        '--to <kind>',
        'output kind: chooses the transformer by MSH-9 (default fhir); with --map, the kind the map must produce',
      ).choices(['fhir', 'hl7v2', 'json']),
    )
    .addOption(
      new Option(
        '--param <name=value>',
        "a value of the --map transformer's parameters (event=A28)",
      ).argParser((value: string, previous: Record<string, string> | undefined) => {
        const [name, v] = parseParamOption(value);
        return { ...previous, [name]: v };
      }),
    )
    .addOption(new Option('--validate', 'also print every validation issue of the input and the output'))
    .addOption(
      new Option(
        '--strict',
        'a required element the message leaves empty (OBX-11, OBR-25) fails the conversion instead of taking its default',
      ),
    )
    .addOption(
      new Option(
        '--transformers <dir...>',
        'load transformers from these folders instead of the built-in ones',
      ),
    )
    .addHelpText('after', EXAMPLES)
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action((files: string[], { param, ...options }: ConvertOptions & { param?: Record<string, string> }) => {
      process.exitCode = runConvert(
        files,
        { ...options, params: param },
        {
          readFile: (file) => readFileSync(file === '-' ? 0 : file),
          stdout: (text) => process.stdout.write(text),
          stderr: (text) => process.stderr.write(text),
        },
      );
    });
}
