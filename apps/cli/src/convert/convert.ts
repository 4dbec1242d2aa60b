import { Hl7Message, Hl7ParseError, splitMessages } from '@sinew/hl7v2';
import { validateFhir, validateStructure, type ValidationIssue } from '@sinew/validation';
import {
  BUILT_IN_TRANSFORMERS,
  MappingError,
  TransformerLibrary,
  type MessageTransformer,
} from '@sinew/mapping';

export type OutputKind = 'fhir' | 'hl7v2' | 'json';

export interface ConvertOptions {
  map?: string;
  /** The output wanted; without --map it chooses the transformer (default fhir), with --map it is checked. */
  to?: OutputKind;
  validate?: boolean;
  /** A required element the message leaves empty fails the conversion instead of taking its default. */
  strict?: boolean;
  transformers?: string[];
  /** Values of the --map transformer's parameters (`--param event=A28`). */
  params?: Record<string, string>;
}

export interface ConvertIo {
  readFile(file: string): Buffer;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** `--validate`: the input's HL7 structure, and the output's FHIR validity or HL7 structure. */
function validate(input: unknown, output: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (input instanceof Hl7Message)
    issues.push(...validateStructure(input).map((i) => ({ ...i, location: `input ${i.location}` })));
  if (output instanceof Hl7Message)
    issues.push(...validateStructure(output).map((i) => ({ ...i, location: `output ${i.location}` })));
  else if (output && typeof output === 'object' && 'resourceType' in output)
    issues.push(...validateFhir(output));
  return issues;
}

function looksLikeHl7(bytes: Buffer): boolean {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < bytes.length && (bytes[i] === 0x0d || bytes[i] === 0x0a || bytes[i] === 0x20)) i++;
  const head = bytes.toString('latin1', i, i + 3);
  return head === 'MSH' || head === 'FHS' || head === 'BHS';
}

function render(output: unknown): string {
  if (output instanceof Hl7Message) return output.toString().replace(/\r/g, '\n');
  return JSON.stringify(output, null, 2) + '\n';
}

/** Runs `sinew convert`; returns the exit status. */
export function runConvert(files: string[], options: ConvertOptions, io: ConvertIo): number {
  let library: TransformerLibrary;
  try {
    library = TransformerLibrary.load(options.transformers ?? [BUILT_IN_TRANSFORMERS]);
  } catch (err) {
    io.stderr(`sinew: ${err instanceof Error ? err.toString() : String(err)}\n`);
    return 2;
  }
  if (options.map && !library.transformers.has(options.map)) {
    io.stderr(
      `sinew: no transformer named ${options.map} (known: ${[...library.transformers.keys()].join(', ')})\n`,
    );
    return 2;
  }
  if (options.map && options.to) {
    const produces = library.get(options.map).spec.output;
    if (produces !== options.to) {
      io.stderr(
        `sinew: --to ${options.to}: transformer ${options.map} produces ${produces}, not ${options.to} (give --to ${produces} or leave --to out)\n`,
      );
      return 2;
    }
  }
  let bound: MessageTransformer | undefined;
  if (options.params && Object.keys(options.params).length > 0) {
    if (!options.map) {
      io.stderr('sinew: --param sets a parameter of the --map transformer: give --map\n');
      return 2;
    }
    try {
      bound = library.get(options.map).withParams(options.params);
    } catch (err) {
      io.stderr(`sinew: --param: ${err instanceof Error ? err.message : String(err)}\n`);
      return 2;
    }
  }
  const to: OutputKind = options.to ?? 'fhir';
  let status = 0;
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = io.readFile(file);
    } catch (err) {
      io.stderr(`sinew: ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}\n`);
      status = 1;
      continue;
    }
    let inputs: unknown[];
    try {
      inputs = looksLikeHl7(bytes) ? splitMessages(bytes) : [JSON.parse(bytes.toString('utf8')) as unknown];
    } catch (err) {
      const why =
        err instanceof Hl7ParseError ? err.toString() : `not HL7 v2 and not JSON (${(err as Error).message})`;
      io.stderr(`sinew: ${file}: ${why}\n`);
      status = 1;
      continue;
    }
    inputs.forEach((input, i) => {
      const label = inputs.length > 1 ? `${file}, message ${i + 1}` : file;
      try {
        let transformer: MessageTransformer;
        if (bound) transformer = bound;
        else if (options.map) transformer = library.get(options.map);
        else if (input instanceof Hl7Message) transformer = library.forMessageType(input.messageType, to);
        else {
          const candidates = [...library.transformers.values()].filter(
            (t) => t.spec.input !== 'hl7v2' && t.spec.output === to,
          );
          if (candidates.length !== 1)
            throw new MappingError(
              'map.no_transformer',
              'name the transformer with --map for JSON/FHIR input',
            );
          transformer = candidates[0] as MessageTransformer;
        }
        const { output, warnings } = transformer.runWithIssues(input, { strict: options.strict === true });
        io.stdout(render(output));
        // What the map left out or defaulted: the conversion succeeded, the exit status stays 0.
        for (const w of warnings) {
          const at = w.source && w.target ? `${w.source} → ${w.target}` : (w.source ?? w.target ?? '');
          io.stderr(`${label}: warning ${w.code}${at ? ` ${at}` : ''}: ${w.message}\n`);
        }
        if (options.validate) {
          const issues = validate(input, output);
          for (const i of issues)
            io.stderr(`${label}: ${i.severity} ${i.code} ${i.location}: ${i.message}\n`);
          if (issues.some((i) => i.severity === 'error')) status = 1;
        }
      } catch (err) {
        if (!(err instanceof MappingError || err instanceof Hl7ParseError)) throw err;
        io.stderr(`sinew: ${label}: ${err.toString()}\n`);
        status = 1;
      }
    });
  }
  return status;
}
