import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, relative } from 'node:path';
import {
  BUILT_IN_TRANSFORMERS,
  MappingError,
  parseTransformerFile,
  TransformerLibrary,
  type LoadedFile,
  type TransformerParseCache,
} from '@sinew/mapping';
import { LintCode } from './codes';
import type { ChannelRegistries } from './compile';
import type { ChannelEnvironment } from './env';
import { compileChannelSet } from './folder';
import { sortProblems, type LintProblem } from './problem';

export interface LintOptions {
  /** The connectors channels may name. */
  connectors: Pick<ChannelRegistries, 'sources' | 'destinations'>;
  env: ChannelEnvironment;
  /** Transformer folders beside the built-in ones (`--transformers`). */
  transformerDirs?: readonly string[];
  /** The built-in transformers (default: `transformers/` of the installation). */
  builtInTransformers?: string;
  /** How files are named in findings (default: as given; absolute ones inside the working folder relative to it). */
  displayPath?: (path: string) => string;
  /**
   * Transformer files parsed on earlier runs, by the hash of their text (none by default). The
   * findings are the same with or without it; it is written back when this run added to it.
   */
  parseCache?: TransformerParseCache;
  /**
   * Other kinds of files that may sit among the inputs (reconciliation files), told apart by
   * their text: each kind's files are checked together by its `lint`, not compiled as channels.
   */
  otherFiles?: readonly OtherFileKind[];
}

/** A kind of YAML file `sinew lint` checks besides channels and transformers. */
export interface OtherFileKind {
  matches(text: string): boolean;
  lint(
    files: ReadonlyArray<{ path: string; file: string; text: string }>,
    env: ChannelEnvironment,
  ): LintProblem[];
}

export interface LintReport {
  /** Every finding, sorted by file, line and column. */
  problems: LintProblem[];
  /** Files checked: the channel and transformer files named or found under the inputs. */
  files: number;
  /** Inputs that do not exist or cannot be read as a file or folder. */
  unreadable: Array<{ path: string; reason: string }>;
}

const YAML_FILE = /\.ya?ml$/;
const TEST_FILE = /\.test\.ya?ml$/;
/** Top-level keys that make a file a transformer file rather than a channel file. */
const TRANSFORMER_KEY = /^(?:transformer|map|vocabulary|supplement)[ \t]*:/m;
const CHANNEL_KEY = /^(?:id|source|destinations|pipeline)[ \t]*:/m;

/**
 * A transformer file (`transformer:`, `map:`, `vocabulary:` or a vocabulary's `supplement:` at
 * the top, no channel keys).
 */
export function isTransformerText(text: string): boolean {
  return TRANSFORMER_KEY.test(text) && !CHANNEL_KEY.test(text);
}

/** `*.yaml` files (not `*.test.yaml`) under `dir` and its subfolders, sorted. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (YAML_FILE.test(entry) && !TEST_FILE.test(entry)) out.push(path);
  }
  return out;
}

/** A path as the user wrote it; an absolute one inside the working folder, relative to it. */
function displayPath(path: string): string {
  if (!isAbsolute(path)) return normalize(path);
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** realPath, each path resolved once (within one lint run). */
function realPaths(): (path: string) => string {
  const known = new Map<string, string>();
  return (path) => {
    let real = known.get(path);
    if (real === undefined) known.set(path, (real = realPath(path)));
    return real;
  };
}

function finding(file: string, code: LintCode, message: string, severity: 'error' | 'warning' = 'error') {
  return { file, line: 1, column: 1, severity, code, path: '', message } satisfies LintProblem;
}

/**
 * Lints channel files and transformer files as `sinew lint` does. Each input is a file or a
 * folder; a folder's `*.yaml` files (not `*.test.yaml`) are taken as transformer files when
 * they start with `transformer:`, `map:`, `vocabulary:` or `supplement:`, as channel files otherwise. The
 * channels are compiled together (duplicate ids and listen addresses) against the built-in
 * transformers, those of `transformerDirs` and those among the inputs.
 */
export function lintPaths(paths: readonly string[], options: LintOptions): LintReport {
  const display = options.displayPath ?? displayPath;
  const problems: LintProblem[] = [];
  const unreadable: LintReport['unreadable'] = [];
  const channelPaths: string[] = [];
  const transformerPaths: string[] = [];
  const texts = new Map<string, string>();
  const realPath = realPaths();
  const others = new Map<OtherFileKind, Array<{ path: string; file: string; text: string }>>(
    (options.otherFiles ?? []).map((k) => [k, []]),
  );
  let files = 0;

  const take = (path: string, named: boolean) => {
    // A file named twice (or found under two inputs) is checked once.
    if (texts.has(realPath(path))) return;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      if (named) unreadable.push({ path, reason: `cannot read the file (${code})` });
      else problems.push(finding(display(path), LintCode.Unreadable, `cannot read the file (${code})`));
      return;
    }
    files++;
    texts.set(realPath(path), text);
    const other = options.otherFiles?.find((k) => k.matches(text));
    if (other) others.get(other)?.push({ path, file: display(path), text });
    else (isTransformerText(text) ? transformerPaths : channelPaths).push(path);
  };

  for (const input of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(input).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      unreadable.push({
        path: input,
        reason: code === 'ENOENT' ? 'no such file or folder' : `cannot read it (${code ?? 'error'})`,
      });
      continue;
    }
    if (!isDir) {
      if (!TEST_FILE.test(input)) take(input, true);
      continue;
    }
    const found = yamlFiles(input);
    if (found.length === 0)
      problems.push(
        finding(
          display(input),
          LintCode.EmptyFolder,
          'no channel or transformer files (*.yaml) in this folder',
          'warning',
        ),
      );
    for (const f of found) take(f, false);
  }

  const extraDirs: string[] = [];
  for (const dir of options.transformerDirs ?? []) {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      // Not there: reported below.
    }
    if (isDir) extraDirs.push(dir);
    else unreadable.push({ path: dir, reason: 'no such transformer folder' });
  }
  options.parseCache?.loadFhirTypes();
  const library = loadTransformers(
    [options.builtInTransformers ?? BUILT_IN_TRANSFORMERS, ...extraDirs],
    transformerPaths,
    texts,
    display,
    problems,
    realPath,
    options.parseCache,
  );
  options.parseCache?.save();
  files += library.extraFiles;

  const set = compileChannelSet(
    channelPaths,
    { ...options.connectors, transformers: library.library },
    { env: options.env },
    display,
  );
  problems.push(...set.problems);
  for (const [kind, list] of others) if (list.length) problems.push(...kind.lint(list, options.env));
  return { problems: sortProblems(problems), files, unreadable };
}

/** Transformer files parsed before, by name and path: a file whose text is unchanged is not parsed again. */
const parsedFiles = new Map<string, { text: string; result: LoadedFile | MappingError }>();

/**
 * Reads every transformer file of `dirs` and `files` once (one path, however it is named) and
 * compiles them into one library. A file that does not load becomes a finding at its
 * file:line:col and is left out, so that the others still compile.
 */
function loadTransformers(
  dirs: readonly string[],
  files: readonly string[],
  texts: Map<string, string>,
  display: (path: string) => string,
  problems: LintProblem[],
  realPath: (path: string) => string,
  cache: TransformerParseCache | undefined,
): { library: TransformerLibrary; extraFiles: number } {
  const seen = new Set<string>();
  const paths: string[] = [];
  let extraFiles = 0;
  const add = (path: string) => {
    const real = realPath(path);
    if (seen.has(real)) return false;
    seen.add(real);
    paths.push(path);
    return true;
  };
  for (const f of files) add(f);
  // The built-in folder (the first) is counted only when it is among the inputs.
  dirs.forEach((dir, i) => {
    for (const f of yamlFiles(dir)) if (add(f) && i > 0) extraFiles++;
  });

  const loaded: LoadedFile[] = [];
  const report = (err: unknown, fallbackFile: string) => {
    if (!(err instanceof MappingError)) throw err;
    const { file, line, column } = err.location;
    problems.push({
      file: file ?? fallbackFile,
      line: line ?? 1,
      column: column ?? 1,
      severity: 'error',
      code: LintCode.TransformerInvalid,
      path: '',
      message: `${err.message} (${err.code})`,
    });
  };
  for (const path of paths) {
    const file = display(path);
    let text = texts.get(realPath(path));
    if (text === undefined) {
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        problems.push(finding(file, LintCode.Unreadable, `cannot read the file (${code})`));
        continue;
      }
    }
    const key = `${file}\0${realPath(path)}`;
    let parsed = parsedFiles.get(key);
    if (parsed?.text !== text) {
      try {
        parsed = { text, result: parseTransformerFile(text, file, process.env, cache) };
      } catch (err) {
        if (!(err instanceof MappingError)) throw err;
        parsed = { text, result: err };
      }
      parsedFiles.set(key, parsed);
    }
    if (parsed.result instanceof MappingError) report(parsed.result, file);
    else loaded.push(parsed.result);
  }
  // Compiling stops at the first error: leave its file out and compile the others again.
  for (;;) {
    try {
      return { library: TransformerLibrary.fromFiles(loaded), extraFiles };
    } catch (err) {
      const at = err instanceof MappingError ? err.location.file : undefined;
      const index = loaded.findIndex((f) => f.file === at);
      if (index < 0) throw err;
      report(err, at as string);
      loaded.splice(index, 1);
    }
  }
}
