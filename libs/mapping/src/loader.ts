import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { MappingError, MappingErrorCode } from './errors';
import { TransformerParseCache } from './parse-cache';
import { resolveSettings, settingError } from './settings';
import {
  messageMapSpec,
  subMapSpec,
  vocabularySpec,
  vocabularySupplementSpec,
  type TransformerFile,
} from './spec';

/** A transformer file as read: its content and a way to locate paths in it. */
export interface LoadedFile {
  file: string;
  content: TransformerFile;
  /** `file:line:col` position of a path inside the document (for compile errors). */
  locate(path: ReadonlyArray<string | number>): { line: number; column: number };
}

/** Line and column (1-based) of a path inside a parsed YAML document, or of its nearest parent. */
export function yamlPosition(
  doc: Document,
  lc: LineCounter,
  path: ReadonlyArray<string | number>,
): { line: number; column: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const { line, col } = lc.linePos(node.range[0]);
      return { line, column: col };
    }
  }
  return { line: 1, column: 1 };
}

/** The file's text parsed by the YAML library, with its line counter. Throws on a YAML error. */
function parseYaml(text: string, file: string): { doc: Document; lc: LineCounter } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = lc.linePos(e?.pos[0] ?? 0);
    throw new MappingError(MappingErrorCode.Schema, `YAML: ${e?.message.split('\n')[0] ?? 'unreadable'}`, {
      file,
      line: pos.line,
      column: pos.col,
    });
  }
  return { doc, lc };
}

/**
 * Parses and checks one transformer file's text. Errors name the file, line and column.
 * `${NAME}` settings in `const` values are read from `env` (see settings.ts). With a `cache`,
 * a text parsed before is not parsed by the YAML library again: its data comes from the cache,
 * and the text is parsed only if a position inside it is asked for (`locate`), so positions are
 * those of a fresh parse.
 */
export function parseTransformerFile(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  cache?: TransformerParseCache,
): LoadedFile {
  const key = cache ? TransformerParseCache.key(text) : '';
  let data: unknown = cache?.get(key);
  let parsedYaml: { doc: Document; lc: LineCounter } | undefined;
  if (data === undefined) {
    parsedYaml = parseYaml(text, file);
    data = parsedYaml.doc.toJS();
    cache?.set(key, data);
  }
  const locate = (path: ReadonlyArray<string | number>) => {
    parsedYaml ??= parseYaml(text, file);
    return yamlPosition(parsedYaml.doc, parsedYaml.lc, path);
  };
  const kind =
    data && typeof data === 'object'
      ? 'transformer' in data
        ? 'message'
        : 'map' in data
          ? 'sub'
          : 'vocabulary' in data
            ? 'vocabulary'
            : 'supplement' in data
              ? 'supplement'
              : undefined
      : undefined;
  if (!kind) {
    throw new MappingError(
      MappingErrorCode.Schema,
      'a transformer file starts with `transformer:` (message map), `map:` (segment/datatype map), `vocabulary:` or `supplement:` (additions to a vocabulary)',
      { file, line: 1, column: 1 },
    );
  }
  const schema =
    kind === 'message'
      ? messageMapSpec
      : kind === 'sub'
        ? subMapSpec
        : kind === 'vocabulary'
          ? vocabularySpec
          : vocabularySupplementSpec;
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? []).filter((p): p is string | number => typeof p !== 'symbol');
    const pos = locate(path);
    throw new MappingError(
      MappingErrorCode.Schema,
      `${path.length ? path.join('.') + ': ' : ''}${issue?.message ?? 'invalid'}`,
      { file, ...pos },
    );
  }
  const content = { kind, spec: parsed.data } as TransformerFile;
  resolveSettings(content, env, (path, message) => {
    throw settingError(file, locate(path), message);
  });
  return { file, content, locate };
}

/** Every `*.yaml` transformer file under `dir` (test files `*.test.yaml` excluded). */
export function loadTransformerDir(dir: string, env: NodeJS.ProcessEnv = process.env): LoadedFile[] {
  const out: LoadedFile[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...loadTransformerDir(path, env));
    else if (/\.ya?ml$/.test(name) && !/\.test\.ya?ml$/.test(name)) {
      out.push(parseTransformerFile(readFileSync(path, 'utf8'), relative(process.cwd(), path) || path, env));
    }
  }
  return out;
}
