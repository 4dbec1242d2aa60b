import { readFileSync } from 'node:fs';
import { Hl7Message, parseBatch } from '@sinew/hl7v2';
import {
  BUILT_IN_TRANSFORMERS,
  TransformerLibrary,
  type MappingWarning,
  type MessageTransformer,
  type RuleSpec,
} from '@sinew/mapping';
import { corpusFiles } from '@sinew/test-support';
import { validateFhir } from '@sinew/validation';

/**
 * Every corpus message of a type with an HL7 v2 → FHIR map, with each optional field it fills
 * replaced in turn by garbage: the conversion never fails, records at most one warning for the
 * replaced field (none when the field is free text, which garbage text still is, or is not
 * read) and nothing about any other field, never changes the output without a warning, and its
 * output is valid FHIR R4.
 *
 * Optional: not read by a `required: true` rule (of any map) and not a resource's identity
 * (its key). One value that feeds several elements gives one warning (its target lists them).
 */

const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const isHl7 = (b: Buffer) => {
  const head = (b.subarray(0, 3).equals(BOM) ? b.subarray(3) : b).subarray(0, 3).toString('latin1');
  return head === 'MSH' || head === 'FHS' || head === 'BHS';
};

/** `SEG-n` fields read by required rules and identities, anywhere in the library. */
function requiredFields(): Set<string> {
  const out = new Set<string>();
  const field = (path: string | undefined) => {
    const m = path ? /^([A-Z][A-Z0-9]{2})(?:\[[^\]]*\])?-(\d+)/.exec(path) : null;
    if (m) out.add(`${m[1]}-${m[2]}`);
  };
  // A `$this` rule is as required as the object it merges into (a required `class` built by
  // rules that merge a vocabulary's Coding into it).
  const walk = (rules: readonly RuleSpec[], requiredObject = false) => {
    for (const r of rules) {
      const required = r.required === true || (requiredObject && r.to === '$this');
      if (required) field(r.from);
      if (r.rules) walk(r.rules, required && r.from === undefined);
    }
  };
  for (const t of library.transformers.values()) {
    for (const r of t.spec.resources) {
      walk(r.rules);
      if (r.identity !== undefined) field(typeof r.identity === 'string' ? r.identity : r.identity.path);
    }
  }
  for (const sub of library.registry.subMaps.values()) walk(sub.spec.rules);
  return out;
}

interface Sample {
  name: string;
  text: string;
  transformer: MessageTransformer;
}

/** The corpus messages a FHIR map reads, each once (batches split into their messages). */
function samples(): { samples: Sample[]; skipped: number } {
  const files = [
    ...corpusFiles('fhir-converter-01/hl7v2-samples', (n) => n.endsWith('.hl7')),
    ...corpusFiles('hl7v2', (n) => /\.(hl7|txt)$/.test(n) && !/^(LICENSE|SOURCE)/.test(n)),
  ];
  const out: Sample[] = [];
  const seen = new Set<string>();
  let skipped = 0;
  for (const file of files) {
    const bytes = readFileSync(file);
    if (!isHl7(bytes)) continue;
    let messages: Hl7Message[];
    try {
      messages = parseBatch(bytes).messages;
    } catch {
      continue; // the corpus's deliberately broken batches
    }
    messages.forEach((msg, i) => {
      let transformer: MessageTransformer;
      try {
        transformer = library.forMessageType(msg.messageType, 'fhir');
      } catch {
        return;
      }
      const text = msg.toString();
      if (seen.has(text)) return;
      seen.add(text);
      const name = `${file.slice(file.indexOf('corpus/') + 7)}${messages.length > 1 ? `#${i + 1}` : ''}`;
      // A message that does not convert as it is (a required element missing) is not a
      // test of optional fields.
      try {
        transformer.run(msg);
      } catch {
        skipped++;
        return;
      }
      out.push({ name, text, transformer });
    });
  }
  return { samples: out, skipped };
}

/** The message with field `n` of segment line `line` replaced by `value` (all repetitions). */
function replaced(lines: string[], line: number, n: number, value: string, sep: string): string {
  const out = lines.slice();
  const fields = (out[line] as string).split(sep);
  fields[n] = value;
  out[line] = fields.join(sep);
  return out.join('\r');
}

const PER_MESSAGE_LIMIT = 60;

/**
 * Fields that decide what a required element is made of, or what resource a segment becomes,
 * though no required rule reads them. OBX-2 of a document (MDM) says whether OBX-5 is an ED,
 * an RP or text: an OBX-2 that is none is a `map.unexpected` warning and gives no content,
 * and a document whose only OBX gives none has no DocumentReference.content, which FHIR
 * requires. In a lab message (OUL) OBX-2 says whether the OBX is a document (ED, RP) or an Observation, and
 * garbage in the OBX-2 of a document makes an Observation of it, whose code and status are
 * then read from fields a document OBX leaves empty (one warning each). Elsewhere an OBX-2
 * that is not a known value type is one `map.unexpected` warning (the value map's text rule).
 */
const DECIDING: Record<string, readonly string[]> = {
  'mdm-to-fhir': ['OBX-2'],
  'oul-to-fhir': ['OBX-2'],
};

const errorsOf = (output: unknown) =>
  validateFhir(output)
    .filter((i) => i.severity === 'error')
    .map((e) => `${e.location ?? ''} ${e.message}`);

describe('garbage in any optional field loses no message', () => {
  const required = requiredFields();
  const { samples: all, skipped } = samples();
  let runs = 0;
  let warned = 0;
  let written = 0;
  let unread = 0;
  let silent = 0;
  let validated = 0;
  const baselineInvalid: string[] = [];
  /** Fields whose garbage changed the output without a warning or the text (a value dropped by a `when`). */
  const silentFields = new Map<string, number>();
  const failures: string[] = [];

  it('finds the corpus messages of supported types', () => {
    expect(all.length).toBeGreaterThan(40);
  });

  it.each(all.map((s) => [s.name, s] as const))('%s', (_name, sample) => {
    const { transformer } = sample;
    const lines = sample.text.split(/\r\n?|\n/).filter((l) => l.length > 0);
    const sep = sample.text[3] as string;
    const esc = sample.text[6] === sep ? '\\' : (sample.text[6] as string);
    // Text with an escaped component separator: a function that reads components of the text
    // (a unit's CWE, a name's XCN) may write either part, so both are marked.
    const garbage = `@@garbage${esc}S${esc}@@x`;
    const baseline = transformer.runWithIssues(Hl7Message.parse(sample.text));
    const shown = (w: MappingWarning) => `${w.code} ${w.source ?? ''} → ${w.target ?? ''}`;
    const before = new Set(baseline.warnings.map(shown));
    const baselineText = JSON.stringify(baseline.output);
    const invalidBefore = new Set(errorsOf(baseline.output));
    if (invalidBefore.size) baselineInvalid.push(sample.name);
    const deciding = DECIDING[transformer.name] ?? [];
    const occurrences = new Map<string, number>();
    // Every filled field of every segment but MSH, in order; a deterministic sample of at most
    // PER_MESSAGE_LIMIT per message (every k-th) keeps the run short.
    const targets: Array<{ line: number; n: number; field: string; where: string }> = [];
    lines.forEach((l, i) => {
      const name = l.slice(0, 3);
      const occurrence = (occurrences.get(name) ?? 0) + 1;
      occurrences.set(name, occurrence);
      if (name === 'MSH') return;
      l.split(sep).forEach((value, n) => {
        if (n === 0 || value === '' || value === '""') return;
        const field = `${name}-${n}`;
        if (required.has(field) || deciding.includes(field)) return;
        targets.push({
          line: i,
          n,
          field,
          where: `${occurrence > 1 ? `${name}[${occurrence}]` : name}-${n}`,
        });
      });
    });
    const step = Math.max(1, Math.ceil(targets.length / PER_MESSAGE_LIMIT));
    targets
      .filter((_, k) => k % step === 0)
      .forEach((t, k) => {
        runs++;
        const text = replaced(lines, t.line, t.n, garbage, sep);
        let result: ReturnType<MessageTransformer['runWithIssues']>;
        try {
          result = transformer.runWithIssues(Hl7Message.parse(text));
        } catch (err) {
          failures.push(`${sample.name} ${t.where}: ${String(err)}`);
          return;
        }
        const added = result.warnings.filter((w) => !before.has(shown(w)));
        const other = added.filter(
          (w) =>
            !(
              w.source === t.where ||
              w.source?.startsWith(`${t.where}[`) ||
              w.source?.startsWith(`${t.where}.`)
            ),
        );
        if (other.length > 0 || added.length > 1) {
          failures.push(`${sample.name} ${t.where}: ${added.map(shown).join('; ')}`);
        }
        const out = JSON.stringify(result.output);
        if (added.length === 1) warned++;
        else if (out === baselineText) unread++;
        else if (out.includes('@@')) written++;
        else {
          silent++;
          const f = t.where.replace(/\[\d+\]/, '');
          silentFields.set(f, (silentFields.get(f) ?? 0) + 1);
        }
        // Validate a deterministic third of the outputs (validation costs more than mapping).
        if (k % 3 === 0) {
          validated++;
          // Only what the garbage broke: a sample invalid as it is is reported on its own.
          const errors = errorsOf(result.output).filter((e) => !invalidBefore.has(e));
          if (errors.length) failures.push(`${sample.name} ${t.where}: invalid R4: ${errors.join('; ')}`);
        }
      });
    expect(failures.filter((f) => f.startsWith(`${sample.name} `))).toEqual([]);
  });

  // Last (jest runs the tests of a file in order): the figures of every message are in.
  it('changes no output without a warning', () => {
    expect(runs).toBeGreaterThan(1000);
    expect([...silentFields].map(([f, n]) => `${f} ${n}`)).toEqual([]);
    expect(silent).toBe(0);
    expect(failures).toEqual([]);
  });

  afterAll(() => {
    // The figures of the run, for the docs: messages, fields replaced, warnings, validations.
    process.stdout.write(
      `garbage fields: ${all.length} messages (${skipped} of supported types do not convert as they are), ` +
        `${runs} fields replaced: ${warned} gave one warning, ${written} were written as text, ` +
        `${unread} are not read, ${silent} changed the output without a warning ` +
        `(${[...silentFields].map(([f, n]) => `${f} ${n}`).join(', ')}); ` +
        `${validated} outputs validated; ${failures.length} failures; ` +
        `invalid R4 as they are: ${baselineInvalid.join(', ') || 'none'}\n`,
    );
  });
});
