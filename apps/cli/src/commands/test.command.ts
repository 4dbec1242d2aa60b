import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import {
  MappingError,
  TransformerLibrary,
  findTransformerTests,
  runTransformerTestFile,
} from '@sinew/mapping';

export function registerTest(program: Command): void {
  program
    .command('test')
    .description('run the transformer tests (*.test.yaml) under a folder')
    .argument('[dir]', 'folder of transformers and their tests', 'transformers')
    .addOption(new Option('--verbose', 'list passing tests too'))
    .addHelpText(
      'after',
      '\nExample:\n  $ sinew test transformers/\n\nExit status: 0 when every test passes, 1 otherwise.',
    )
    .action((dir: string, options: { verbose?: boolean }) => {
      const root = resolve(dir);
      let library: TransformerLibrary;
      try {
        library = TransformerLibrary.load([root]);
      } catch (err) {
        process.stderr.write(`${err instanceof MappingError ? err.toString() : String(err)}\n`);
        process.exitCode = 1;
        return;
      }
      let passed = 0;
      let failed = 0;
      for (const file of findTransformerTests(root)) {
        for (const r of runTransformerTestFile(file, library)) {
          if (r.passed) {
            passed++;
            if (options.verbose) process.stdout.write(`PASS ${r.file}:${r.line} ${r.name}\n`);
          } else {
            failed++;
            process.stdout.write(`FAIL ${r.file}:${r.line} ${r.name}\n`);
            for (const f of r.failures) process.stdout.write(`     ${f}\n`);
          }
        }
      }
      process.stdout.write(`${passed} passed, ${failed} failed\n`);
      process.exitCode = failed > 0 ? 1 : 0;
    });
}
