import { encodeValue, parsePath, type Hl7Message, type Hl7Segment } from '@sinew/hl7v2';
import { MappingError, MappingErrorCode } from './errors';

/** Where rules write: a JSON/FHIR object, an HL7 segment, or an HL7 composite value. */
export interface Target {
  write(path: string, value: unknown): void;
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

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Writes into a plain object (FHIR resources, JSON documents). */
export class ObjectTarget implements Target {
  constructor(readonly obj: Record<string, unknown> = {}) {}

  write(path: string, value: unknown): void {
    if (path === '$this') {
      // The guide's `$this`: a sub-map's object merged into the object being built.
      if (!isObject(value)) {
        throw new MappingError(MappingErrorCode.Schema, '$this takes an object (a datatype map result)');
      }
      Object.assign(this.obj, value);
      return;
    }
    const steps = parseTargetPath(path);
    let node: Record<string, unknown> = this.obj;
    steps.forEach((step, i) => {
      const last = i === steps.length - 1;
      if (step.index === undefined) {
        if (last) {
          const prev = node[step.key];
          node[step.key] = isObject(prev) && isObject(value) ? { ...prev, ...value } : value;
          return;
        }
        if (!isObject(node[step.key])) node[step.key] = {};
        node = node[step.key] as Record<string, unknown>;
        return;
      }
      if (!Array.isArray(node[step.key])) node[step.key] = [];
      const arr = node[step.key] as unknown[];
      if (step.index === 'append') {
        arr.push(value);
        return;
      }
      while (arr.length <= step.index) arr.push(last ? undefined : {});
      if (last) {
        const prev = arr[step.index];
        arr[step.index] = isObject(prev) && isObject(value) ? { ...prev, ...value } : value;
        return;
      }
      if (!isObject(arr[step.index])) arr[step.index] = {};
      node = arr[step.index] as Record<string, unknown>;
    });
  }

  child(): Target {
    return new ObjectTarget();
  }

  result(): unknown {
    return Object.keys(this.obj).length === 0 ? undefined : this.obj;
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
