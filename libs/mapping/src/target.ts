import { encodeValue, parsePath, type Hl7Message, type Hl7Segment } from '@sinew/hl7v2';
import { MappingError, MappingErrorCode } from './errors';

/** Where rules write: a JSON/FHIR object, an HL7 segment, or an HL7 composite value. */
export interface Target {
  write(path: string, value: unknown): void;
  /** The same as `write(path.text, value)`, for a path taken apart once. */
  put?(path: TargetPath, value: unknown): void;
  /** A fresh target of the same kind for a sub-map; `result()` gives what it built. */
  child(): Target;
  /** What was built: an object, or an encoded HL7 value; `undefined` when nothing was written. */
  result(): unknown;
}

interface Step {
  key: string;
  index?: number | 'append';
}

const stepCache = new Map<string, Step[]>();

/** `name[0].given[]` → steps. `[]` (append) is allowed on the last step only. */
export function parseTargetPath(path: string): Step[] {
  const hit = stepCache.get(path);
  if (hit) return hit;
  const steps = path.split('.').map((part, i, all) => {
    const m = /^([A-Za-z_$][A-Za-z0-9_$-]*)(?:\[(\d*)\])?$/.exec(part);
    if (!m)
      throw new MappingError(
        MappingErrorCode.Schema,
        `${JSON.stringify(path)} is not a target path (a.b[0].c, items[])`,
      );
    const step: Step = { key: m[1] as string };
    if (m[2] !== undefined) {
      if (m[2] === '') {
        if (i !== all.length - 1) {
          throw new MappingError(
            MappingErrorCode.Schema,
            `${JSON.stringify(path)}: [] (append) only on the last step`,
          );
        }
        step.index = 'append';
      } else step.index = Number(m[2]);
    }
    return step;
  });
  stepCache.set(path, steps);
  return steps;
}

const targetPaths = new Map<string, TargetPath>();

/**
 * A rule's `to`, taken apart once when the transformer is compiled. An object target reads it
 * as steps (`name[0].given[]`); the compiler has checked it for its target (scope.ts).
 */
export class TargetPath {
  private parsed: Step[] | null | undefined;
  /** `$this`: the value is merged into the object being built. */
  readonly isThis: boolean;

  private constructor(readonly text: string) {
    this.isThis = text === '$this';
  }

  static of(text: string): TargetPath {
    let p = targetPaths.get(text);
    if (p === undefined) {
      p = new TargetPath(text);
      if (targetPaths.size < 10_000) targetPaths.set(text, p);
    }
    return p;
  }

  /** The steps of an object path; throws MappingError when the text is not one. */
  steps(): Step[] {
    if (this.parsed === undefined) {
      try {
        this.parsed = parseTargetPath(this.text);
      } catch {
        this.parsed = null;
      }
    }
    return this.parsed ?? parseTargetPath(this.text);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A new empty array for the output. Not an array literal: V8 may decide that a literal's
 * allocation site makes long-lived arrays (the arrays of the first objects built live as long
 * as their object) and from then on allocate every array of that literal in the old
 * generation, where the young values they hold stay alive until a full collection. Conversions
 * measured about 1.3× slower with the literal.
 */
export const newArray = <T = unknown>(): T[] => new Array<T>();

const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/**
 * A new object with the members of `a`, then those of `b` (`{ ...a, ...b }`). `Object.assign`
 * copies faster than a spread; it would set the prototype for a `__proto__` member, so an
 * object that has one is spread.
 */
function merged(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  if (hasOwn(a, '__proto__') || hasOwn(b, '__proto__')) return { ...a, ...b };
  return Object.assign({}, a, b);
}

/** Writes into a plain object (FHIR resources, JSON documents). */
export class ObjectTarget implements Target {
  constructor(readonly obj: Record<string, unknown> = {}) {}

  write(path: string, value: unknown): void {
    this.put(TargetPath.of(path), value);
  }

  put(path: TargetPath, value: unknown): void {
    if (path.isThis) {
      // The guide's `$this`: a sub-map's object merged into the object being built.
      if (!isObject(value)) {
        throw new MappingError(MappingErrorCode.Schema, '$this takes an object (a datatype map result)');
      }
      Object.assign(this.obj, value);
      return;
    }
    const steps = path.steps();
    let node: Record<string, unknown> = this.obj;
    const last = steps.length - 1;
    for (let i = 0; i < last; i++) {
      const step = steps[i] as Step;
      let next = node[step.key];
      if (step.index === undefined) {
        if (!isObject(next)) node[step.key] = next = {};
        node = next as Record<string, unknown>;
        continue;
      }
      if (!Array.isArray(next)) node[step.key] = next = newArray();
      const arr = next as unknown[];
      // `[]` (append) is only allowed on the last step.
      const index = step.index as number;
      while (arr.length <= index) arr.push({});
      let item = arr[index];
      if (!isObject(item)) arr[index] = item = {};
      node = item as Record<string, unknown>;
    }
    const step = steps[last] as Step;
    if (step.index === undefined) {
      const prev = node[step.key];
      node[step.key] = isObject(prev) && isObject(value) ? merged(prev, value) : value;
      return;
    }
    let arr = node[step.key];
    if (!Array.isArray(arr)) node[step.key] = arr = newArray();
    const list = arr as unknown[];
    if (step.index === 'append') {
      list.push(value);
      return;
    }
    while (list.length <= step.index) list.push(undefined);
    const prev = list[step.index];
    list[step.index] = isObject(prev) && isObject(value) ? merged(prev, value) : value;
  }

  child(): Target {
    return new ObjectTarget();
  }

  result(): unknown {
    for (const k in this.obj) if (Object.prototype.hasOwnProperty.call(this.obj, k)) return this.obj;
    return undefined;
  }
}

/** Writes the fields of one HL7 segment: `PID-5.1`, `PID-3[]` (a new repetition), `5.1`. */
export class SegmentTarget implements Target {
  private readonly repCount = new Map<number, number>();
  constructor(
    private readonly msg: Hl7Message,
    private readonly segment: Hl7Segment,
    private readonly occurrence: number,
  ) {}

  write(path: string, value: unknown): void {
    const appending = path.endsWith('[]');
    const bare = appending ? path.slice(0, -2) : path;
    const full = /^\d/.test(bare) ? `${this.segment.name}-${bare}` : bare;
    const p = parsePath(full);
    if (p.segment !== this.segment.name || p.field === undefined || p.occurrence === '*') {
      throw new MappingError(
        MappingErrorCode.Schema,
        `${JSON.stringify(path)} is not a field of ${this.segment.name}`,
      );
    }
    const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
    const composite = isObject(value) && typeof value.hl7 === 'string' ? value.hl7 : undefined;
    if (text === undefined && composite === undefined) return;
    let rep = typeof p.repetition === 'number' ? p.repetition : 1;
    if (appending) {
      rep = (this.repCount.get(p.field) ?? 0) + 1;
      this.repCount.set(p.field, rep);
    }
    let at = `${this.segment.name}[${this.occurrence}]-${p.field}[${rep}]`;
    if (p.component !== undefined) at += `.${p.component}`;
    if (p.subcomponent !== undefined) at += `.${p.subcomponent}`;
    if (composite !== undefined) this.msg.setRaw(at, composite);
    else this.msg.set(at, text as string);
  }

  child(): Target {
    return new CompositeTarget(this.msg);
  }

  result(): unknown {
    return undefined;
  }
}

/** Builds one HL7 composite value (a CX, an XPN …) from `to: 1`, `to: 4.2` writes. */
export class CompositeTarget implements Target {
  private readonly parts: string[][] = [];
  constructor(private readonly msg: Hl7Message) {}

  write(path: string, value: unknown): void {
    const m = /^(\d+)(?:\.(\d+))?$/.exec(path);
    if (!m)
      throw new MappingError(
        MappingErrorCode.Schema,
        `${JSON.stringify(path)} is not a component path (1, 4.2)`,
      );
    const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
    if (text === undefined) return;
    const c = Number(m[1]) - 1;
    const s = m[2] === undefined ? 0 : Number(m[2]) - 1;
    while (this.parts.length <= c) this.parts.push([]);
    const comp = this.parts[c] as string[];
    while (comp.length <= s) comp.push('');
    comp[s] = encodeValue(text, this.msg.delimiters);
  }

  child(): Target {
    return new CompositeTarget(this.msg);
  }

  result(): unknown {
    if (this.parts.length === 0) return undefined;
    const d = this.msg.delimiters;
    return { hl7: this.parts.map((c) => c.join(d.subcomponent ?? '&')).join(d.component) };
  }
}
