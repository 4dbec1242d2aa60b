import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MapRegistry } from './compile';
import { MappingError, MappingErrorCode } from './errors';
import { FUNCTIONS, type MappingFunction } from './functions';
import { loadTransformerDir, type LoadedFile } from './loader';
import { MessageTransformer } from './transformer';
import { loadUserFunctions, type UserFunction } from './user-functions';

/** The folder of the built-in transformers: `transformers/` at the project root. */
function builtInDir(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'transformers')))
      return join(dir, 'transformers');
    if (dirname(dir) === dir) return join(process.cwd(), 'transformers');
  }
}

/** The built-in transformers shipped with Sinew (`transformers/` at the project root). */
export const BUILT_IN_TRANSFORMERS = builtInDir();

/**
 * Every transformer under one or more folders, compiled once: message maps by name and by the
 * message types they handle, the segment/datatype maps and vocabularies they share.
 */
export class TransformerLibrary {
  readonly registry: MapRegistry;
  readonly transformers = new Map<string, MessageTransformer>();
  /** The folders it was loaded from (`load`); empty for a library built from files in memory. */
  readonly dirs: readonly string[] = [];
  /** The project's own functions found in those folders (`*.fn.js`, `*.fn.ts`). */
  readonly userFunctions: readonly UserFunction[] = [];

  private constructor(files: LoadedFile[], functions: readonly MappingFunction[]) {
    this.registry = new MapRegistry(functions);
    for (const f of files)
      if (f.content.kind === 'vocabulary') this.registry.addVocabulary(f, f.content.spec);
    // Site supplements change the vocabularies before any rule looks a code up.
    for (const f of files)
      if (f.content.kind === 'supplement') this.registry.addSupplement(f, f.content.spec);
    for (const f of files) if (f.content.kind === 'sub') this.registry.addSubMap(f, f.content.spec);
    this.registry.finish();
    for (const f of files) {
      if (f.content.kind !== 'message') continue;
      const t = new MessageTransformer(f.content.spec, f.file, this.registry, f);
      if (this.transformers.has(t.name)) {
        throw new MappingError(MappingErrorCode.Duplicate, `transformer ${t.name} is defined twice`, {
          file: f.file,
          ...f.locate(['transformer']),
        });
      }
      this.transformers.set(t.name, t);
    }
  }

  /**
   * Loads and compiles every transformer file under `dirs`. Throws MappingError with
   * file:line:col. `${NAME}` settings in `const` values are read from `env`.
   */
  static load(
    dirs: string[] = [BUILT_IN_TRANSFORMERS],
    functions: readonly MappingFunction[] = FUNCTIONS,
    env: NodeJS.ProcessEnv = process.env,
  ): TransformerLibrary {
    const own = dirs.flatMap((d) => loadUserFunctions(d));
    const taken = new Set(functions.map((f) => f.name));
    for (const u of own) {
      if (taken.has(u.fn.name)) {
        throw new MappingError(
          MappingErrorCode.Duplicate,
          `function ${u.fn.name} is already declared (a built-in function, or another file)`,
          { file: u.file },
        );
      }
      taken.add(u.fn.name);
    }
    const library = new TransformerLibrary(
      dirs.flatMap((d) => loadTransformerDir(d, env)),
      [...functions, ...own.map((u) => u.fn)],
    );
    (library as { dirs: readonly string[] }).dirs = [...dirs];
    (library as { userFunctions: readonly UserFunction[] }).userFunctions = own;
    return library;
  }

  /** Compiles already parsed files (tests, in-memory transformers). */
  static fromFiles(
    files: LoadedFile[],
    functions: readonly MappingFunction[] = FUNCTIONS,
  ): TransformerLibrary {
    return new TransformerLibrary(files, functions);
  }

  get(name: string): MessageTransformer {
    const t = this.transformers.get(name);
    if (!t) throw new MappingError(MappingErrorCode.NoTransformer, `no transformer named ${name}`);
    return t;
  }

  /** The transformer for an HL7 v2 message type (`ADT^A01`) and output kind. */
  forMessageType(type: string, output: 'fhir' | 'json' | 'hl7v2' = 'fhir'): MessageTransformer {
    for (const t of this.transformers.values()) {
      if (t.spec.input === 'hl7v2' && t.spec.output === output && t.spec.messages.includes(type)) return t;
    }
    throw new MappingError(
      MappingErrorCode.NoTransformer,
      `no built-in ${output} transformer for ${type || 'this message type'}`,
    );
  }
}
