import { Hl7ParseError, parsePath, splitMessages, type Hl7Message } from '@sinew/hl7v2';
import { renderJson } from './json';
import { PLAIN, type Style } from './style';
import { messageLocation, renderMessage } from './text';
import { inspectMessage, type InspectedMessage } from './tree';

export interface InspectOptions {
  /** Print a JSON tree per message instead of the readable view. */
  json?: boolean;
  /** Print only the decoded value at each path, in this order. */
  get?: string[];
}

/** Where `runInspect` reads and writes, so that tests can run it without a process. */
export interface InspectIo {
  /** The bytes of a file; `-` names standard input. */
  readFile(file: string): Buffer;
  stdout(text: string): void;
  stderr(text: string): void;
  style?: Style;
}

/** How standard input (`-`) is named in headings and JSON. */
export const STDIN_LABEL = '(stdin)';

/** The values at `paths`, one line each; a path with `*` gives a line per element it matches. */
export function valuesAt(msg: Hl7Message, paths: readonly string[]): string[] {
  return paths.flatMap((p) => (p.includes('*') ? msg.getAll(p) : [msg.get(p)]));
}

/** `cannot read the file (ENOENT)` for a file-system error; undefined for anything else. */
function readError(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' ? `cannot read the file (${code})` : undefined;
}

/**
 * `sinew inspect`: shows each message of each file. Returns the exit code: 0, 1 when a file
 * could not be read or parsed (the others are still shown), 2 for a malformed `--get` path.
 */
export function runInspect(files: readonly string[], options: InspectOptions, io: InspectIo): number {
  const paths = options.get ?? [];
  for (const p of paths) {
    try {
      parsePath(p);
    } catch (err) {
      if (!(err instanceof Hl7ParseError)) throw err;
      io.stderr(`sinew: ${err.toString()}\n`);
      return 2;
    }
  }

  let failed = false;
  let groups = 0;
  const trees: InspectedMessage[] = [];
  for (const file of files) {
    const label = file === '-' ? STDIN_LABEL : file;
    let messages: Hl7Message[];
    try {
      messages = splitMessages(io.readFile(file));
    } catch (err) {
      const reason = err instanceof Hl7ParseError ? err.toString() : readError(err);
      if (reason === undefined) throw err;
      io.stderr(`sinew: ${label}: ${reason}\n`);
      failed = true;
      continue;
    }
    messages.forEach((msg, i) => {
      const where = { file: label, index: i + 1, of: messages.length };
      if (options.json) {
        trees.push(inspectMessage(msg, where));
        return;
      }
      const sep = groups++ > 0 ? '\n' : '';
      if (paths.length > 0) {
        const heading = files.length > 1 || messages.length > 1 ? `==> ${messageLocation(where)} <==\n` : '';
        const lines = valuesAt(msg, paths).map((l) => `${l}\n`);
        io.stdout(sep + heading + lines.join(''));
      } else {
        io.stdout(sep + renderMessage(inspectMessage(msg, where), io.style ?? PLAIN));
      }
    });
  }
  if (options.json && (trees.length > 0 || files.length > 1)) {
    io.stdout(renderJson(trees, files.length > 1 || trees.length > 1));
  }
  return failed ? 1 : 0;
}
