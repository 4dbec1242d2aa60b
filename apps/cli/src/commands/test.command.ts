import { existsSync, writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { runTests, type TestCaseResult, type TestRun } from '@sinew/channels/testing';
import { MappingError } from '@sinew/mapping';

const DEFAULT_PATHS = ['channels', 'transformers'];

interface TestOptions {
  transformers?: string[];
  reporter: 'text' | 'junit';
  output?: string;
  verbose?: boolean;
}

const xml = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // Characters XML 1.0 cannot hold (HL7 separators such as CR are fine, others are not).
    .replace(
      /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    );

/** JUnit XML: one testsuite per test file, one testcase per case. */
export function junitReport(run: TestRun, seconds: Map<string, number>): string {
  const byFile = new Map<string, TestCaseResult[]>();
  for (const r of run.results) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  const failed = run.results.filter((r) => !r.passed).length;
  const total = [...seconds.values()].reduce((a, b) => a + b, 0);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="sinew test" tests="${run.results.length}" failures="${failed}" errors="0" time="${total.toFixed(3)}">`,
  ];
  for (const [file, cases] of byFile) {
    const f = cases.filter((c) => !c.passed).length;
    out.push(
      `  <testsuite name="${xml(file)}" tests="${cases.length}" failures="${f}" errors="0" time="${(seconds.get(file) ?? 0).toFixed(3)}">`,
    );
    for (const c of cases) {
      const open = `    <testcase classname="${xml(`${c.kind}.${file}`)}" name="${xml(c.name)}" file="${xml(file)}" line="${c.line}"`;
      if (c.passed) out.push(`${open}/>`);
      else {
        out.push(`${open}>`);
        out.push(
          `      <failure message="${xml(c.failures[0] ?? 'failed')}" type="AssertionError">${xml(`${file}:${c.line} ${c.name}\n${c.failures.join('\n')}`)}</failure>`,
        );
        out.push('    </testcase>');
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}

export function registerTest(program: Command): void {
  program
    .command('test')
    .description('run the channel and transformer tests (*.test.yaml) under folders or files')
    .argument('[paths...]', 'folders or test files (default: channels and transformers)')
    .addOption(new Option('--transformers <dir...>', 'extra transformer folders (as sinew start)'))
    .addOption(
      new Option('--reporter <name>', 'text or junit (JUnit XML)').choices(['text', 'junit']).default('text'),
    )
    .addOption(new Option('--output <file>', 'write the report to a file instead of stdout'))
    .addOption(new Option('--verbose', 'list passing tests too'))
    .addHelpText(
      'after',
      `
Channel tests (X.test.yaml beside channel X.yaml) run each case's messages through the compiled
channel in this process, with destinations captured (nothing is sent) and a fixed clock.
Transformer tests run against the built-in transformers, the folders given and --transformers.

Examples:
  $ sinew test
  $ sinew test channels/lab-results.test.yaml
  $ sinew test channels my-transformers --transformers shared-maps
  $ sinew test --reporter junit --output test-results.xml

Exit status: 0 when every test passes, 1 when any fails (or none is found). Reference: docs/testing.md`,
    )
    .action((paths: string[], options: TestOptions) => {
      const given = paths.length > 0;
      const roots = given ? paths : DEFAULT_PATHS.filter((p) => existsSync(p));
      const missing = roots.filter((p) => !existsSync(p));
      if (missing.length > 0) {
        process.stderr.write(`sinew test: no such file or folder: ${missing.join(', ')}\n`);
        process.exitCode = 1;
        return;
      }
      const text = options.reporter === 'text';
      const lines: string[] = [];
      const emit = (line: string) => {
        if (options.output) lines.push(line);
        else process.stdout.write(`${line}\n`);
      };
      const seconds = new Map<string, number>();
      let run: TestRun;
      const started = performance.now();
      try {
        run = runTests(roots, {
          ...(options.transformers ? { transformers: options.transformers } : {}),
          onFile: (_file, results, ms) => {
            const shown = results[0]?.file;
            if (shown !== undefined) seconds.set(shown, ms / 1000);
            if (!text) return;
            for (const r of results) {
              if (r.passed) {
                if (options.verbose) emit(`PASS ${r.file}:${r.line} ${r.name}`);
              } else {
                emit(`FAIL ${r.file}:${r.line} ${r.name}`);
                for (const f of r.failures) emit(`     ${f}`);
              }
            }
          },
        });
      } catch (err) {
        process.stderr.write(`${err instanceof MappingError ? err.toString() : String(err)}\n`);
        process.exitCode = 1;
        return;
      }
      const passed = run.results.filter((r) => r.passed).length;
      const failed = run.results.length - passed;
      if (text) {
        const ms = Math.round(performance.now() - started);
        emit(
          `ran ${run.files.channel} channel and ${run.files.transformer} transformer test files in ${ms} ms`,
        );
        emit(`${passed} passed, ${failed} failed`);
      } else emit(junitReport(run, seconds).trimEnd());
      if (options.output) writeFileSync(options.output, `${lines.join('\n')}\n`);
      if (run.results.length === 0) {
        process.stderr.write(`sinew test: no tests found under ${roots.join(', ') || '.'}\n`);
        process.exitCode = 1;
        return;
      }
      process.exitCode = failed > 0 ? 1 : 0;
    });
}
