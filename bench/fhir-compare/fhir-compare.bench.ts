// Converts every sample of ../shared/corpus/fhir-converter-01 that has a built-in transformer,
// validates the output as strict R4, and compares resource types and key values with the bundle
// FHIR-Converter produces for the same message. Prints a Markdown report (docs/fhir-converter-comparison.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import { corpusPath } from '@sinew/test-support/corpus';
import { compareWithFhirConverter } from '@sinew/test-support/fhir-compare';
import { validateFhir } from '@sinew/validation';

const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
const results = compareWithFhirConverter(library);

const byType = new Map<string, typeof results>();
for (const r of results) {
  const key = r.messageType;
  byType.set(key, [...(byType.get(key) ?? []), r]);
}

let valid = 0;
const lines: string[] = [];
lines.push(
  '| message | transformer | R4 errors | resource types (Sinew) | only in FHIR-Converter | key values matched |',
);
lines.push('|---|---|---:|---|---|---:|');
const details: string[] = [];
for (const [type, rs] of [...byType.entries()].sort()) {
  for (const r of rs) {
    if (r.error) {
      lines.push(`| ${type} (${r.file}) | ${r.transformer} | — | conversion failed: ${r.error} | | |`);
      continue;
    }
    const issues = validateFhir(r.bundle).filter((i) => i.severity === 'error');
    if (issues.length === 0) valid++;
    const onlyTheirs = r.theirTypes.filter((t) => !r.ourTypes.includes(t));
    const pct = r.keyValues
      ? `${r.keyValuesMatched}/${r.keyValues} (${Math.round((100 * r.keyValuesMatched) / r.keyValues)} %)`
      : '—';
    lines.push(
      `| ${type} (${r.file}) | ${r.transformer} | ${issues.length} | ${r.ourTypes.join(', ')} | ${onlyTheirs.join(', ')} | ${pct} |`,
    );
    if (issues.length)
      details.push(
        `- ${r.file}: ${issues
          .slice(0, 5)
          .map((i) => `${i.code} at ${i.location}`)
          .join('; ')}`,
      );
    if (r.missing.length)
      details.push(
        `- ${r.file} — values FHIR-Converter has and Sinew does not: ${r.missing.slice(0, 12).join('; ')}${r.missing.length > 12 ? ` … (${r.missing.length} in all)` : ''}`,
      );
  }
}
const totalKeys = results.reduce((n, r) => n + r.keyValues, 0);
const matched = results.reduce((n, r) => n + r.keyValuesMatched, 0);
const samples = (
  JSON.parse(readFileSync(join(corpusPath('fhir-converter-01'), 'manifest.json'), 'utf8')) as unknown[]
).length;
const converted = results.filter((r) => !r.error);
const typesOf = (rs: typeof results) => new Set(rs.map((r) => r.messageType)).size;
console.log(lines.join('\n'));
console.log(
  `\n${results.length} of ${samples} samples (${typesOf(results)} message types) have a built-in transformer; ` +
    `${converted.length} (${typesOf(converted)} types) convert, ${valid} valid R4 (0 errors), ` +
    `key values matched ${matched}/${totalKeys} (${totalKeys ? Math.round((100 * matched) / totalKeys) : 0} %)\n`,
);
if (details.length) console.log(details.join('\n'));
