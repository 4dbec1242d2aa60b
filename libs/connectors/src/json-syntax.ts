/** Where and why a text is not JSON, without quoting it. */
export interface JsonSyntaxError {
  /** 1-based line and column of the first offending character. */
  line: number;
  column: number;
  /** What was expected there (`',' or '}'`, `a value`), or that the text ended. */
  expected: string;
  /** True when the text ended before the value was complete. */
  truncated: boolean;
}

/**
 * Finds the first syntax error of a JSON text (RFC 8259), for error messages that say where
 * the problem is (V8's messages quote the input instead). Undefined when the text is valid.
 */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  const scanner = new JsonScanner({ maxDepth: Infinity, maxValues: Infinity });
  scanner.write(Buffer.from(text, 'utf8'));
  const end = scanner.end();
  if (!('problem' in end) || end.problem.kind !== 'syntax') return undefined;
  const { kind: _kind, ...error } = end.problem;
  return error;
}

/** Why a JSON body was refused by {@link JsonScanner}. */
export type JsonScanProblem =
  | ({ kind: 'syntax' } & JsonSyntaxError)
  | { kind: 'depth'; limit: number }
  | { kind: 'values'; limit: number };

/** What {@link JsonScanner} learned of a valid JSON text. */
export interface JsonScanResult {
  /** The top-level value's kind. */
  top: 'object' | 'array' | 'scalar';
  /** The top-level object's `resourceType` when it is a string (the last one, as JSON.parse keeps). */
  resourceType: string | undefined;
  /** How many values (objects, arrays, strings, numbers, literals) the text holds. */
  values: number;
  /** Deepest nesting of objects and arrays. */
  depth: number;
}

export interface JsonScanLimits {
  /** Deepest nesting of objects and arrays allowed. */
  maxDepth: number;
  /** Most values (every object, array, string, number and literal) allowed. */
  maxValues: number;
}

// Scanner states.
const S_VALUE = 0; // a value is expected
const S_VALUE_OR_CLOSE = 1; // first element of an array: a value or ']'
const S_AFTER = 2; // after a value: ',', the container's close, or (top level) the end
const S_KEY = 3; // a property name is expected
const S_KEY_OR_CLOSE = 4; // first member of an object: a property name or '}'
const S_COLON = 5;
const S_STRING = 6;
const S_ESCAPE = 7;
const S_HEX = 8;
const S_LITERAL = 9;
const S_MINUS = 10; // after '-': a digit
const S_ZERO = 11; // after a leading 0
const S_INT = 12;
const S_DOT = 13; // after '.': a digit
const S_FRACTION = 14;
const S_EXP = 15; // after 'e': a sign or a digit
const S_EXP_SIGN = 16; // after the exponent's sign: a digit
const S_EXP_DIGITS = 17;
const S_BOM = 18; // inside a leading UTF-8 byte order mark

const OBJECT = 1;
const ARRAY = 2;

const WS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WS[c] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const ESCAPE_BYTES = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPE_BYTES[c.charCodeAt(0)] = 1;
const LITERALS: Record<number, Uint8Array> = {
  0x74: Buffer.from('true'),
  0x66: Buffer.from('false'),
  0x6e: Buffer.from('null'),
};
/** Longest property name or resourceType value kept to be read (escapes included). */
const CAPTURE_MAX = 256;

const EXPECTED: Record<number, string> = {
  [S_VALUE]: 'a value',
  [S_VALUE_OR_CLOSE]: 'a value',
  [S_KEY]: 'a property name in double quotes',
  [S_KEY_OR_CLOSE]: 'a property name in double quotes',
  [S_COLON]: "':'",
  [S_STRING]: 'a closing quote',
  [S_ESCAPE]: 'a valid escape',
  [S_HEX]: 'four hex digits after \\u',
  [S_LITERAL]: 'a value',
  [S_MINUS]: 'a digit',
  [S_DOT]: 'a digit',
  [S_EXP]: 'a digit',
  [S_EXP_SIGN]: 'a digit',
  [S_BOM]: 'a value',
};

/**
 * Checks a JSON text (RFC 8259) as it arrives, chunk by chunk, in one pass over its bytes and
 * without building its values: a body that nests deeper than `maxDepth` or holds more than
 * `maxValues` values is refused at the byte where it crosses the limit, so its cost is known
 * before anything parses it. Syntax errors are located by line and column (characters), as
 * {@link findJsonSyntaxError} does. A leading byte order mark is skipped.
 */
export class JsonScanner {
  private state = S_BOM;
  /** The open containers, outermost first (index 0 unused). */
  private readonly stack: number[] = [0];
  private depth = 0;
  private deepest = 0;
  private values = 0;
  private top: JsonScanResult['top'] | undefined;
  private hexLeft = 0;
  private literal: Uint8Array | undefined;
  private literalAt = 0;
  private bomAt = 0;
  /** Whether the string being read is a property name. */
  private inKey = false;
  /** Bytes of a top-level property name, or of a top-level resourceType value, being kept. */
  private capture: number[] | undefined;
  private captureOverflow = false;
  private lastKeyIsResourceType = false;
  private capturingResourceType = false;
  private resourceType: string | undefined;
  private failed: JsonScanProblem | undefined;
  private line = 1;
  private column = 0;

  constructor(private readonly limits: JsonScanLimits) {}

  /** The problem found so far, if any (then later chunks are ignored). */
  get problem(): JsonScanProblem | undefined {
    return this.failed;
  }

  /** Reads the next bytes of the text; the problem once one is found. */
  write(chunk: Uint8Array): JsonScanProblem | undefined {
    if (this.failed) return this.failed;
    const n = chunk.length;
    let i = 0;
    let state = this.state;
    while (i < n) {
      const c = chunk[i] as number;
      switch (state) {
        case S_STRING: {
          // The hot loop: plain bytes of a string.
          let j = i;
          let continuation = 0;
          while (j < n) {
            const b = chunk[j] as number;
            if (b === 0x22 || b === 0x5c || b < 0x20) break;
            // UTF-8 continuation bytes do not move the column: it counts characters.
            if ((b & 0xc0) === 0x80) continuation++;
            j++;
          }
          if (this.capture) this.keep(chunk, i, j);
          this.column += j - i - continuation;
          i = j;
          if (i === n) break;
          const b = chunk[i] as number;
          if (b === 0x22) {
            i++;
            this.column++;
            state = this.endString();
          } else if (b === 0x5c) {
            if (this.capture) this.keep(chunk, i, i + 1);
            i++;
            this.column++;
            state = S_ESCAPE;
          } else {
            return this.syntax(state, 'no control character inside a string');
          }
          break;
        }
        case S_ESCAPE:
          if (!ESCAPE_BYTES[c]) return this.syntax(state);
          if (this.capture) this.keep(chunk, i, i + 1);
          i++;
          this.column++;
          if (c === 0x75) {
            this.hexLeft = 4;
            state = S_HEX;
          } else state = S_STRING;
          break;
        case S_HEX:
          if (!HEX[c]) return this.syntax(state);
          if (this.capture) this.keep(chunk, i, i + 1);
          i++;
          this.column++;
          if (--this.hexLeft === 0) state = S_STRING;
          break;
        case S_VALUE:
        case S_VALUE_OR_CLOSE:
        case S_AFTER:
        case S_KEY:
        case S_KEY_OR_CLOSE:
        case S_COLON:
          if (WS[c]) {
            if (c === 0x0a) {
              this.line++;
              this.column = 0;
            } else this.column++;
            i++;
            break;
          }
          state = this.structural(state, c);
          if (this.failed) return this.failed;
          i++;
          this.column++;
          break;
        case S_LITERAL: {
          const lit = this.literal as Uint8Array;
          if (c !== lit[this.literalAt]) return this.syntax(S_VALUE);
          i++;
          this.column++;
          if (++this.literalAt === lit.length) state = S_AFTER;
          break;
        }
        case S_MINUS:
          if (c === 0x30) state = S_ZERO;
          else if (c >= 0x31 && c <= 0x39) state = S_INT;
          else return this.syntax(state);
          i++;
          this.column++;
          break;
        case S_ZERO:
        case S_INT:
        case S_FRACTION:
        case S_EXP_DIGITS:
          if (c >= 0x30 && c <= 0x39 && state !== S_ZERO) {
            i++;
            this.column++;
          } else if (c === 0x2e && (state === S_ZERO || state === S_INT)) {
            state = S_DOT;
            i++;
            this.column++;
          } else if ((c === 0x65 || c === 0x45) && state !== S_EXP_DIGITS) {
            state = S_EXP;
            i++;
            this.column++;
          } else state = S_AFTER; // the number ended; this byte is read after it
          break;
        case S_DOT:
          if (c < 0x30 || c > 0x39) return this.syntax(state);
          state = S_FRACTION;
          i++;
          this.column++;
          break;
        case S_EXP:
          if (c === 0x2b || c === 0x2d) state = S_EXP_SIGN;
          else if (c >= 0x30 && c <= 0x39) state = S_EXP_DIGITS;
          else return this.syntax(state);
          i++;
          this.column++;
          break;
        case S_EXP_SIGN:
          if (c < 0x30 || c > 0x39) return this.syntax(state);
          state = S_EXP_DIGITS;
          i++;
          this.column++;
          break;
        case S_BOM:
          if (this.bomAt < 3 && c === [0xef, 0xbb, 0xbf][this.bomAt]) {
            this.bomAt++;
            i++;
            if (this.bomAt === 3) {
              state = S_VALUE;
              this.column = 0;
            }
          } else if (this.bomAt === 0) state = S_VALUE;
          else return this.syntax(S_VALUE);
          break;
        default:
          return this.syntax(state);
      }
    }
    this.state = state;
    return undefined;
  }

  /** Ends the text: the problem, or what the scan learned of it. */
  end(): { problem: JsonScanProblem } | { result: JsonScanResult } {
    if (this.failed) return { problem: this.failed };
    let state = this.state;
    // A number at the very end is complete once the text ends after a digit.
    if (state === S_ZERO || state === S_INT || state === S_FRACTION || state === S_EXP_DIGITS)
      state = S_AFTER;
    if (state !== S_AFTER || this.depth !== 0) {
      return { problem: this.fail(state === S_AFTER ? this.closer() : (EXPECTED[state] ?? 'a value'), true) };
    }
    return {
      result: {
        top: this.top ?? 'scalar',
        resourceType: this.resourceType,
        values: this.values,
        depth: this.deepest,
      },
    };
  }

  private closer(): string {
    return this.stack[this.depth] === OBJECT ? "',' or '}'" : "',' or ']'";
  }

  /** One structural byte (not whitespace) in a state between tokens; the next state. */
  private structural(state: number, c: number): number {
    if (state === S_COLON) {
      if (c !== 0x3a) return this.failState("':'");
      return S_VALUE;
    }
    if (state === S_KEY || state === S_KEY_OR_CLOSE) {
      if (c === 0x22) {
        this.inKey = true;
        if (this.depth === 1) {
          this.capture = [];
          this.captureOverflow = false;
        }
        return S_STRING;
      }
      if (c === 0x7d && state === S_KEY_OR_CLOSE) return this.close();
      return this.failState(EXPECTED[state] as string);
    }
    if (state === S_AFTER) {
      if (this.depth === 0) return this.failState('the end of the text');
      const container = this.stack[this.depth];
      if (c === 0x2c) return container === OBJECT ? S_KEY : S_VALUE;
      if ((c === 0x7d && container === OBJECT) || (c === 0x5d && container === ARRAY)) return this.close();
      return this.failState(this.closer());
    }
    // A value is expected.
    if (c === 0x5d && state === S_VALUE_OR_CLOSE) return this.close();
    if (!this.countValue()) return state;
    const atTop = this.depth === 0;
    const isResourceType = this.depth === 1 && this.stack[1] === OBJECT && this.lastKeyIsResourceType;
    if (isResourceType) this.resourceType = undefined;
    this.lastKeyIsResourceType = false;
    switch (c) {
      case 0x7b:
      case 0x5b:
        if (atTop) this.top = c === 0x7b ? 'object' : 'array';
        if (this.depth === this.limits.maxDepth) {
          this.failed = { kind: 'depth', limit: this.limits.maxDepth };
          return state;
        }
        this.depth++;
        if (this.depth > this.deepest) this.deepest = this.depth;
        this.stack[this.depth] = c === 0x7b ? OBJECT : ARRAY;
        return c === 0x7b ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE;
      case 0x22:
        this.inKey = false;
        if (isResourceType) {
          this.capture = [];
          this.captureOverflow = false;
          this.capturingResourceType = true;
        }
        return S_STRING;
      case 0x2d:
        return S_MINUS;
      case 0x30:
        return S_ZERO;
      default:
        if (c >= 0x31 && c <= 0x39) return S_INT;
        if (LITERALS[c]) {
          this.literal = LITERALS[c];
          this.literalAt = 1;
          return S_LITERAL;
        }
        return this.failState('a value');
    }
  }

  private close(): number {
    this.stack.length = this.depth;
    this.depth--;
    return S_AFTER;
  }

  private countValue(): boolean {
    if (++this.values > this.limits.maxValues) {
      this.failed = { kind: 'values', limit: this.limits.maxValues };
      return false;
    }
    return true;
  }

  /** The closing quote of a string was read. */
  private endString(): number {
    const kept = this.capture;
    this.capture = undefined;
    if (this.inKey) {
      this.inKey = false;
      this.lastKeyIsResourceType =
        kept !== undefined && !this.captureOverflow && decodeJsonString(kept) === 'resourceType';
      return S_COLON;
    }
    if (this.capturingResourceType) {
      this.capturingResourceType = false;
      this.resourceType = kept && !this.captureOverflow ? decodeJsonString(kept) : undefined;
    }
    return S_AFTER;
  }

  private keep(chunk: Uint8Array, from: number, to: number): void {
    const kept = this.capture as number[];
    if (kept.length + (to - from) > CAPTURE_MAX) {
      this.captureOverflow = true;
      return;
    }
    for (let k = from; k < to; k++) kept.push(chunk[k] as number);
  }

  private failState(expected: string): number {
    this.fail(expected, false);
    return S_VALUE;
  }

  private syntax(state: number, expected?: string): JsonScanProblem {
    return this.fail(expected ?? EXPECTED[state] ?? 'a value', false);
  }

  private fail(expected: string, truncated: boolean): JsonScanProblem {
    this.failed = { kind: 'syntax', line: this.line, column: this.column + 1, expected, truncated };
    return this.failed;
  }
}

/** The text of a JSON string's bytes (between its quotes); undefined when they do not decode. */
function decodeJsonString(bytes: number[]): string | undefined {
  const raw = Buffer.from(bytes).toString('utf8');
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}
