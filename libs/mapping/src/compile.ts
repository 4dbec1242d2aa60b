import {
  compileCondition,
  conditionWhere,
  type PathCompiler,
  type ReadValue,
  type ValueReader,
} from '@sinew/validation';
import { MappingError, MappingErrorCode } from './errors';
import { aType, shownType } from './fhir-elements';
import { bindFunction, FUNCTIONS, type MappingFunction } from './functions';
import type { LoadedFile } from './loader';
import type {
  Condition,
  Expectation,
  RuleSpec,
  SubMapSpec,
  VocabularySpec,
  VocabularySupplementSpec,
} from './spec';
import {
  checkConstValue,
  checkSegmentName,
  checkSourcePath,
  checkTargetPath,
  fhirTypeFits,
  PathProblem,
  selectedScope,
  subMapFhirType,
  type Scope,
  type TargetScope,
} from './scope';
import { firstOf, SourcePath, type SourceNode } from './source';
import { TargetPath, type Target } from './target';

/** What `path` selects from `node`, read through the node's cache when it has one. */
const readAll = (node: SourceNode, path: SourcePath): readonly SourceNode[] =>
  node.read ? node.read(path) : node.select(path.text);

/** How an own data property is defined (as an object literal or `Object.fromEntries` would). */
const OWN = { enumerable: true, writable: true, configurable: true } as const;

const readFirst = firstOf;

/** What one node gives a condition: a segment its name, an object `null` (present), else its text. */
function conditionValue(node: SourceNode): ReadValue {
  if (node.segment !== undefined) return node.segment.name;
  const v = node.value();
  return v !== null && typeof v === 'object' ? null : node.text();
}

/** A bare segment name (`PV2`, `OBX[2]`): a condition on it can only ask whether it is there. */
const SEGMENT_ONLY = /^[A-Z][A-Z0-9]{2}(\[(\d+|\*)\])?$/;

/** Condition paths read from the node a rule maps, as its `from` would; checked for `scope`. */
const sourcePaths =
  (scope: Scope): PathCompiler<SourceNode> =>
  (text) => {
    const problem = checkSourcePath(text, scope);
    if (problem) return { problem: problem.message };
    const path = SourcePath.of(text);
    const many = text.includes('*');
    const presenceOnly = scope.input === 'hl7v2' && SEGMENT_ONLY.test(text);
    const read: ValueReader<SourceNode> =
      !many && !presenceOnly
        ? (ctx, test) => {
            if (ctx.readText) return test(ctx.readText(path));
            const first = readFirst(ctx, path);
            return first !== undefined && test(conditionValue(first));
          }
        : (ctx, test) => {
            for (const n of readAll(ctx, path)) if (test(conditionValue(n))) return true;
            return false;
          };
    return { read, presenceOnly };
  };

/** Writes through the target's compiled path when it has one. */
const put = (target: Target, path: TargetPath, value: unknown): void => {
  if (target.put) target.put(path, value);
  else target.write(path.text, value);
};

/**
 * `{ system, code, display }` for the output. Objects that end up in the output are filled in
 * member by member rather than written as literals: see `newArray` (V8 may allocate every
 * object of a literal in the old generation once it has seen the first ones live long).
 */
function coding(system: string | undefined, code: string, display?: string): Record<string, unknown> {
  const c: Record<string, unknown> = {};
  c.system = system;
  c.code = code;
  if (display !== undefined) c.display = display;
  return c;
}

/** What a compiled rule may ask of the run it is part of. */
export interface RunEnv {
  /**
   * References to the produced instances of resource `name`, seen from the current one. `from`
   * is the node the rule reads: when it is another segment (an AIP mapped into an Appointment),
   * only the instances made from that segment are listed.
   */
  refs(name: string, from?: SourceNode): unknown[];
  /**
   * The run's warnings and settings. Without it a conversion error in any rule fails the run,
   * and a required rule's `default` is not used.
   */
  issues?: RunIssues;
}

/**
 * A conversion problem that did not fail the run: the element was dropped (a value that
 * cannot be converted in an optional element), or a required element the source left empty
 * was given the map's `default` (`map.defaulted`). Never holds patient data.
 */
export interface MappingWarning {
  code: MappingErrorCode;
  message: string;
  /** Where the value came from: `PID-30`, `PID-3[2].4`, `OBX[2]-11`. */
  source?: string;
  /**
   * The element it was going to: `Patient.deceasedBoolean`, `Observation.status`; the
   * elements, joined with `, `, when one value feeds several.
   */
  target?: string;
}

/**
 * What one run collects and how it treats conversion errors. A run-time MappingError in a rule
 * that is not `required` drops what that rule writes and becomes a warning, unless it comes
 * from a field the resource's `identity` reads (a key), which fails the run. In strict mode a
 * required element the source leaves empty (or cannot be converted) fails the run even when the
 * rule gives a `default`.
 */
export class RunIssues {
  readonly warnings: MappingWarning[] = [];
  /** The `to` of each sub-map or nested object being built, outermost first. */
  private readonly path: string[] = [];
  /** `SEG-n` fields the current resource's identity reads (`PID-3`). */
  private keys: readonly string[] = [];

  constructor(
    readonly strict = false,
    /** Where every target path starts: the resource type, the segment built. */
    private root = '',
  ) {}

  /** Starts a resource (or segment): its type, and the fields of its identity. */
  begin(root: string, keys: readonly string[]): void {
    this.root = root;
    this.keys = keys;
    this.path.length = 0;
  }

  enter(to: string): void {
    this.path.push(to);
  }

  leave(): void {
    this.path.pop();
  }

  /** Whether `err` may be turned into a warning: a run-time error not read from a key field. */
  lenient(err: unknown, where: string): err is MappingError {
    if (!(err instanceof MappingError) || err.location.file !== undefined) return false;
    if (this.keys.length === 0) return true;
    const field = fieldOf(err.location.source ?? where);
    return field === undefined || !this.keys.includes(field);
  }

  /**
   * Records a warning for what `to` (of the current object) would have held. One value that
   * feeds several elements (OBR-7 → DiagnosticReport.effectiveDateTime and the Specimen's
   * collection time) gives one warning: the same code from the same source adds its element
   * to the warning's target (`A, B`).
   */
  warn(code: MappingErrorCode, message: string, source: string | undefined, to: string): void {
    const s = source === undefined ? undefined : shownSource(source);
    const target = this.target(to);
    if (s) {
      const key = `${code}\u0000${s}`;
      this.bySource ??= new Map();
      const seen = this.bySource.get(key);
      if (seen) {
        if (!(seen.target ?? '').split(', ').includes(target)) seen.target = `${seen.target}, ${target}`;
        return;
      }
      const w: MappingWarning = { code, message, source: s, target };
      this.bySource.set(key, w);
      this.warnings.push(w);
      return;
    }
    this.warnings.push({ code, message, target });
  }

  private bySource: Map<string, MappingWarning> | undefined;

  /** `Patient.identifier.value`: the element path, without list indices and `$this`. */
  private target(to: string): string {
    const parts: string[] = [];
    if (this.root) parts.push(this.root);
    for (const p of this.path) if (p !== '$this') parts.push(p);
    if (to !== '$this') parts.push(to);
    return parts.map((p) => p.replace(/\[\d*\]/g, '')).join('.');
  }
}

/** `PID-3` for `PID-3[2].4`, `PID[2]-3.1` or `PID PID-3`; undefined for no HL7 field. */
function fieldOf(source: string): string | undefined {
  const m = /(?:^|\s)([A-Z][A-Z0-9]{2})(?:\[\d+\])?-(\d+)/.exec(source);
  return m ? `${m[1]}-${m[2]}` : undefined;
}

/**
 * A source as a warning shows it: the `required` check's `OBX OBX-11` (the segment read, then
 * the path) as `OBX-11`, `OBX[2] OBX-11` as `OBX[2]-11`, `PID-3[1] 4` as `PID-3[1].4`,
 * `OBX[2]-5 OBX-2` as `OBX[2]-2`.
 */
export function shownSource(source: string): string {
  const m = /^(\S+) (\S+)$/.exec(source);
  if (!m) return source;
  const [, at, path] = m as unknown as [string, string, string];
  if (/^\d+(\.\d+)*$/.test(path)) return `${at}.${path}`;
  // A segment's field read from the segment or from one of its values: `OBX[2]-5 OBX-2` is `OBX[2]-2`.
  const seg = /^([A-Z][A-Z0-9]{2})(\[\d+\])?(?:-\S*)?$/.exec(at);
  if (seg && path.startsWith(`${seg[1]}-`)) return `${seg[1]}${seg[2] ?? ''}${path.slice(3)}`;
  return path;
}

export type CompiledRule = (ctx: SourceNode, target: Target, env: RunEnv) => void;

export interface CompiledSubMap {
  name: string;
  spec: SubMapSpec;
  /** What its rules read and write (from its kind, input, output and the type its name gives). */
  scope: Scope;
  apply(ctx: SourceNode, target: Target, env: RunEnv): unknown;
}

export interface CompiledVocabulary {
  spec: VocabularySpec;
  lookup(code: string): { code: string; display?: string; system?: string } | undefined;
  /** Whether `code` is a code of the source table with no target (`no_target`). */
  noTarget(code: string): boolean;
}

type VocabularyEntry = { code: string; display?: string; system?: string };

/** A vocabulary's target as a table entry, with the vocabulary's target system by default. */
function entryOf(to: string | VocabularyEntry, targetSystem: string | undefined): VocabularyEntry {
  const entry = typeof to === 'string' ? { code: to } : { ...to };
  if (!entry.system && targetSystem) entry.system = targetSystem;
  return entry;
}

/** Compiled maps and vocabularies by name, shared by every message map that uses them. */
export class MapRegistry {
  readonly subMaps = new Map<string, CompiledSubMap>();
  readonly vocabularies = new Map<string, CompiledVocabulary>();
  readonly functions = new Map<string, MappingFunction>();
  private readonly pending: Array<() => void> = [];

  constructor(functions: readonly MappingFunction[] = FUNCTIONS) {
    for (const fn of functions) {
      if (this.functions.has(fn.name)) {
        throw new MappingError(MappingErrorCode.Duplicate, `function ${fn.name} is declared twice`);
      }
      this.functions.set(fn.name, fn);
    }
  }

  addVocabulary(file: LoadedFile, spec: VocabularySpec): void {
    if (this.vocabularies.has(spec.vocabulary)) {
      throw new MappingError(MappingErrorCode.Duplicate, `vocabulary ${spec.vocabulary} is defined twice`, {
        file: file.file,
        ...file.locate(['vocabulary']),
      });
    }
    const table = new Map<string, VocabularyEntry>();
    const none = new Set(spec.no_target ?? []);
    this.tables.set(spec.vocabulary, { table, none });
    for (const [from, to] of Object.entries(spec.codes)) table.set(from, entryOf(to, spec.target_system));
    this.vocabularies.set(spec.vocabulary, {
      spec,
      lookup: (code) => table.get(code),
      noTarget: (code) => none.has(code),
    });
  }

  /**
   * Applies a site supplement to the vocabulary it names: its codes are added (or replace the
   * vocabulary's), its `no_target` codes join the vocabulary's. A supplement of a vocabulary
   * that does not exist, or two supplements mapping the same code, fail with file:line:col.
   */
  addSupplement(file: LoadedFile, spec: VocabularySupplementSpec): void {
    const vocab = this.vocabularies.get(spec.supplement);
    const tables = this.tables.get(spec.supplement);
    if (!vocab || !tables) {
      throw new MappingError(
        MappingErrorCode.Unknown,
        `no vocabulary named ${spec.supplement} to supplement`,
        { file: file.file, ...file.locate(['supplement']) },
      );
    }
    for (const [from, to] of Object.entries(spec.codes)) {
      const earlier = this.supplemented.get(`${spec.supplement}\u0000${from}`);
      if (earlier !== undefined) {
        throw new MappingError(
          MappingErrorCode.Duplicate,
          `code ${from} of ${spec.supplement} is supplemented twice (also in ${earlier})`,
          { file: file.file, ...file.locate(['codes', from]) },
        );
      }
      this.supplemented.set(`${spec.supplement}\u0000${from}`, file.file);
      tables.table.set(from, entryOf(to, vocab.spec.target_system));
      tables.none.delete(from);
    }
    for (const code of spec.no_target ?? []) {
      const earlier = this.supplemented.get(`${spec.supplement}\u0000${code}`);
      if (earlier !== undefined) {
        throw new MappingError(
          MappingErrorCode.Duplicate,
          `code ${code} of ${spec.supplement} is supplemented twice (also in ${earlier})`,
          { file: file.file, ...file.locate(['no_target', spec.no_target?.indexOf(code) ?? 0]) },
        );
      }
      this.supplemented.set(`${spec.supplement}\u0000${code}`, file.file);
      tables.table.delete(code);
      tables.none.add(code);
    }
  }

  /** The code tables of the vocabularies, for supplements. */
  private readonly tables = new Map<string, { table: Map<string, VocabularyEntry>; none: Set<string> }>();
  /** `vocabulary NUL code` → the supplement file that maps it. */
  private readonly supplemented = new Map<string, string>();

  addSubMap(file: LoadedFile, spec: SubMapSpec): void {
    if (this.subMaps.has(spec.map)) {
      throw new MappingError(MappingErrorCode.Duplicate, `map ${spec.map} is defined twice`, {
        file: file.file,
        ...file.locate(['map']),
      });
    }
    let rules: CompiledRule[] = [];
    const compiled: CompiledSubMap = {
      name: spec.map,
      spec,
      scope: subMapScope(file, spec),
      apply: (ctx, target, env) => {
        for (const r of rules) r(ctx, target, env);
        return target.result();
      },
    };
    this.subMaps.set(spec.map, compiled);
    // Rules may name maps defined in files loaded later: compile once everything is known.
    this.pending.push(() => {
      rules = this.compileRules(spec.rules, file, ['rules'], compiled.scope);
    });
  }

  /** Compiles what was added; call once all files are added. */
  finish(): void {
    for (const p of this.pending.splice(0)) p();
  }

  /** Compiles rules that read and write as `scope` says; path problems throw with file:line:col. */
  compileRules(
    rules: RuleSpec[],
    file: LoadedFile,
    at: Array<string | number>,
    scope: Scope,
  ): CompiledRule[] {
    return rules.map((r, i) => this.compileRule(r, file, [...at, i], scope));
  }

  /**
   * Checks that sub-map `sub` may be applied to what `scope`'s path `from` selects (`.` when
   * none) and written where `to` leads (FHIR type `at`); throws at `key` otherwise.
   */
  checkSubMapUse(
    sub: CompiledSubMap,
    scope: Scope,
    from: string,
    at: string | undefined,
    place: () => { file: string; line: number; column: number },
  ): void {
    const fail = (message: string): never => {
      throw new MappingError(MappingErrorCode.MapMismatch, message, place());
    };
    const s = sub.scope;
    // A FHIR datatype may stand in a JSON document; a JSON object is not checked FHIR.
    const outputFits = s.output === scope.output || (s.output === 'fhir' && scope.output === 'json');
    if (s.input !== scope.input || !outputFits) {
      fail(
        `${sub.name} maps ${s.input} to ${s.output}; here the transformer maps ${scope.input} to ${scope.output}`,
      );
    }
    if (scope.input === 'hl7v2') {
      const selected = selectedScope(from, scope, scope.target);
      if (sub.spec.kind === 'segment' && selected.source !== 'segment') {
        fail(
          `${sub.name} is a segment map; ${from === '.' ? 'it is applied to' : `${from} selects`} a field value`,
        );
      }
      if (sub.spec.kind === 'datatype' && selected.source === 'segment') {
        fail(`${sub.name} is a datatype map; ${from} selects a segment`);
      }
      if (sub.spec.kind === 'segment' && selected.segment !== s.segment) {
        fail(
          `${sub.name} maps ${s.segment ?? ''} segments; here it would read ${selected.segment ?? 'another segment'}`,
        );
      }
    }
    if (scope.output === 'hl7v2' && sub.spec.kind === 'segment' && scope.target.kind !== 'segment') {
      fail(`${sub.name} builds a segment: apply it with a resource's map, not in a rule`);
    }
    if (
      s.target.kind === 'segment' &&
      scope.target.kind === 'segment' &&
      s.target.segment !== scope.target.segment
    ) {
      fail(
        `${sub.name} builds ${s.target.segment} segments; here the segment built is ${scope.target.segment}`,
      );
    }
    const built = s.target.kind === 'object' ? s.target : undefined;
    if (built?.fhir !== undefined && at !== undefined && !fhirTypeFits(built.fhir, at, built.choice)) {
      const what = built.choice ? `a ${shownType(built.fhir)}.${built.choice}[x]` : aType(built.fhir);
      fail(`${sub.name} builds ${what}; the element written holds ${aType(at)}`);
    }
  }

  /**
   * Compiles a `when` with the shared condition compiler; paths read from the node the rule
   * maps. A problem is a MappingError at the condition's place in the file.
   */
  compileCondition(
    c: Condition,
    file: LoadedFile,
    at: Array<string | number>,
    scope: Scope,
  ): (ctx: SourceNode) => boolean {
    const compiled = compileCondition(c, sourcePaths(scope));
    const problem = compiled.problems[0];
    if (problem || !compiled.test) {
      throw new MappingError(
        problem?.code === 'condition.path' ? MappingErrorCode.Path : MappingErrorCode.Condition,
        `${conditionWhere('when', problem?.path ?? [])}: ${problem?.message ?? 'invalid condition'}`,
        { file: file.file, ...file.locate([...at, ...(problem?.path ?? [])]) },
      );
    }
    return compiled.test;
  }

  /**
   * A rule's `when` and `expect` as one test, or undefined when it has neither. `expect` is
   * checked once `when` holds: a present value that is not as expected records `map.unexpected`
   * (source: the path read, target: the rule's `to`) and the rule is skipped, unless it says
   * `unexpected: write`. Applied outside a run that collects issues, the rule is skipped (or
   * written) the same way, without the warning.
   */
  private compileGate(
    rule: RuleSpec,
    file: LoadedFile,
    at: Array<string | number>,
    scope: Scope,
  ): ((ctx: SourceNode, env: RunEnv) => boolean) | undefined {
    const when = rule.when ? this.compileCondition(rule.when, file, [...at, 'when'], scope) : undefined;
    // Without `expect`, the condition itself (it ignores the run).
    if (rule.expect === undefined) return when;
    const unexpected = this.compileExpectation(rule.expect, file, [...at, 'expect'], scope);
    const write = rule.unexpected === 'write';
    const to = rule.to;
    const message = `${unexpected.message}; ${write ? 'it was written all the same' : 'the element was not written'}`;
    return (ctx, env) => {
      if (when && !when(ctx)) return false;
      if (!unexpected.test(ctx)) return true;
      env.issues?.warn(MappingErrorCode.Unexpected, message, unexpected.source(ctx), to);
      return write;
    };
  }

  /**
   * An `expect` compiled: `test` is true when its path holds a value that is not as expected;
   * `message` says what it is not (the caller adds what became of it); `source` names that
   * path at the node read (`OBX-2`, `PID-11[1].7`) for the warning.
   */
  compileExpectation(
    e: Expectation,
    file: LoadedFile,
    at: Array<string | number>,
    scope: Scope,
  ): { test: (ctx: SourceNode) => boolean; message: string; source: (ctx: SourceNode) => string } {
    const test = this.compileCondition(
      { all: [{ path: e.path, present: true }, { not: e }] },
      file,
      at,
      scope,
    );
    const message =
      'in' in e
        ? `the value is not one of ${e.in.join(', ')}`
        : 'equals' in e
          ? `the value is not ${e.equals}`
          : `the value does not have the form the element needs`;
    const path = e.path;
    return {
      test,
      message,
      source: (ctx) => `${ctx.where === 'message' ? '' : ctx.where + ' '}${path}`.trim(),
    };
  }

  private compileRule(
    rule: RuleSpec,
    file: LoadedFile,
    at: Array<string | number>,
    scope: Scope,
  ): CompiledRule {
    const place = (key: string) => ({ file: file.file, ...file.locate([...at, key]) });
    const fail = (code: MappingErrorCode, message: string, key: string): never => {
      throw new MappingError(code, message, place(key));
    };
    const check = <T>(result: T | PathProblem | undefined, key: string): T | undefined => {
      if (result instanceof PathProblem) fail(result.code, result.message, key);
      return result as T | undefined;
    };
    const when = this.compileGate(rule, file, at, scope);

    // What the rule reads: with `following`, each following segment of that name.
    if (rule.following !== undefined && (scope.input !== 'hl7v2' || scope.source !== 'segment')) {
      fail(
        MappingErrorCode.Path,
        `following reads the segments after a segment: these rules do not read one`,
        'following',
      );
    }
    const origin: Scope =
      rule.following === undefined ? scope : { ...scope, source: 'segment', segment: rule.following };
    if (rule.following !== undefined) check(checkSegmentName(rule.following), 'following');
    if (rule.from !== undefined) check(checkSourcePath(rule.from, origin), 'from');
    // Where it writes, and the FHIR type there.
    const valueIsList = rule.const !== undefined && Array.isArray(rule.const);
    const targetAt = check(checkTargetPath(rule.to, scope, valueIsList), 'to') ?? {};
    if (rule.const !== undefined) check(checkConstValue(rule.const, targetAt.fhir), 'const');
    if (rule.ref !== undefined && targetAt.fhir !== undefined && !fhirTypeFits('Reference', targetAt.fhir)) {
      fail(
        MappingErrorCode.FhirElement,
        `ref writes a Reference; ${rule.to} holds ${aType(targetAt.fhir)}`,
        'to',
      );
    }
    if (rule.to === '$this' && scope.target.kind !== 'object') {
      fail(MappingErrorCode.Path, `$this merges an object: these rules build HL7 v2`, 'to');
    }

    const to = rule.to;
    let transform: ((node: SourceNode, env: RunEnv, target: Target) => unknown) | undefined;
    if (rule.map !== undefined) {
      const name = rule.map;
      if (!this.subMaps.has(name)) fail(MappingErrorCode.Unknown, `no map named ${name}`, 'map');
      const sub = this.subMaps.get(name) as CompiledSubMap;
      this.checkSubMapUse(sub, origin, rule.from ?? '.', targetAt.fhir, () => place('map'));
      const into = rule.to;
      transform = (node, env, target) => {
        const issues = env.issues;
        if (issues === undefined) return sub.apply(node, target.child(), env);
        issues.enter(into);
        try {
          return sub.apply(node, target.child(), env);
        } finally {
          issues.leave();
        }
      };
    } else if (rule.fn !== undefined) {
      const call = typeof rule.fn === 'string' ? { name: rule.fn, args: undefined } : rule.fn;
      const fn = this.functions.get(call.name);
      if (!fn) fail(MappingErrorCode.Unknown, `no function named ${call.name}`, 'fn');
      let bound: (v: string) => unknown = () => undefined;
      try {
        const used = (fn as MappingFunction).vocabulary;
        const table = used === undefined ? undefined : this.vocabularies.get(used);
        bound = bindFunction(fn as MappingFunction, call.args, `${file.file}`, table?.lookup);
      } catch (err) {
        fail(MappingErrorCode.InvalidArgs, err instanceof Error ? err.message : String(err), 'fn');
      }
      transform = (node) => bound(node.text());
    } else if (rule.vocab !== undefined) {
      const vocab = this.vocabularies.get(rule.vocab);
      if (!vocab) fail(MappingErrorCode.Unknown, `no vocabulary named ${rule.vocab}`, 'vocab');
      const v = vocab as CompiledVocabulary;
      const policy = rule.unmapped ?? 'error';
      // A Coding is written for `…coding`, `…coding[]`, and for `$this` (the Coding being built).
      const asCoding = /(^|\.)coding(\[\d*\])?$/.test(rule.to) || rule.to === '$this';
      const vocabName = rule.vocab;
      transform = (node, env) => {
        const code = node.text().trim();
        const hit = v.lookup(code);
        if (hit) return asCoding ? coding(hit.system, hit.code, hit.display) : hit.code;
        // A code the vocabulary does not know (and does not list as having no target) is
        // dropped or defaulted with a warning, so that the change is never silent.
        const unknown = code !== '' && !v.noTarget(code);
        switch (policy) {
          case 'pass_through':
            return asCoding ? coding(v.spec.source_system, code) : code;
          case 'default':
            if (unknown) {
              env.issues?.warn(
                MappingErrorCode.UnmappedDefaulted,
                `code is not in vocabulary ${vocabName}; the default was written`,
                node.where,
                to,
              );
            }
            return rule.default;
          case 'drop':
            if (unknown) {
              env.issues?.warn(
                MappingErrorCode.UnmappedDropped,
                `code is not in vocabulary ${vocabName}; the element was dropped`,
                node.where,
                to,
              );
            }
            return undefined;
          default:
            throw new MappingError(
              MappingErrorCode.Unmapped,
              `code is not in vocabulary ${rule.vocab} (policy: error)`,
              { source: node.where, target: rule.to },
            );
        }
      };
    }

    const toPath = TargetPath.of(to);
    const write = (target: Target, value: unknown) => {
      // Text is written without the spaces senders pad fields with (FHIR codes cannot hold them).
      if (typeof value === 'string') {
        value = value.trim();
        if (value === '') return;
      } else if (value === undefined || value === null) return;
      else if (typeof value === 'object' && !Array.isArray(value)) {
        // Objects are written without their empty members, and not at all when nothing is left.
        const obj = value as Record<string, unknown>;
        let kept = 0;
        let empty = 0;
        for (const k in obj) {
          if (obj[k] === undefined || obj[k] === '') empty++;
          else kept++;
        }
        if (kept === 0) return;
        if (empty === 0) put(target, toPath, obj);
        else {
          const copy: Record<string, unknown> = {};
          for (const k of Object.keys(obj)) {
            const v = obj[k];
            if (v === undefined || v === '') continue;
            if (k === '__proto__') Object.defineProperty(copy, k, { value: v, ...OWN });
            else copy[k] = v;
          }
          put(target, toPath, copy);
        }
        return;
      }
      put(target, toPath, value);
    };
    const wrap = (err: unknown, node: SourceNode): never => {
      if (err instanceof MappingError && !err.location.source && !err.location.file) {
        throw new MappingError(err.code, err.message, { source: node.where, target: to });
      }
      throw err;
    };

    if (rule.const !== undefined) {
      const value = rule.const;
      return (ctx, target, env) => {
        if (when && !when(ctx, env)) return;
        write(target, value);
      };
    }
    if (rule.ref !== undefined) {
      const name = rule.ref;
      const many = to.endsWith('[]');
      return (ctx, target, env) => {
        if (when && !when(ctx, env)) return;
        const refs = env.refs(name, ctx);
        const n = many ? refs.length : Math.min(refs.length, 1);
        for (let i = 0; i < n; i++) write(target, refs[i]);
      };
    }
    if (rule.rules !== undefined) {
      const innerTarget: TargetScope =
        scope.target.kind === 'object'
          ? { kind: 'object', fhir: scope.target.fhir === undefined ? undefined : targetAt.fhir }
          : { kind: 'composite' };
      const inner = this.compileRules(
        rule.rules,
        file,
        [...at, 'rules'],
        rule.from === undefined
          ? { ...origin, target: innerTarget }
          : selectedScope(rule.from, origin, innerTarget),
      );
      const following = rule.following;
      const from = rule.from === undefined ? undefined : SourcePath.of(rule.from);
      const many = to.endsWith('[]');
      const required = rule.required === true || to === '$this';
      const one = (c: SourceNode, target: Target, env: RunEnv) => {
        const child = target.child();
        const issues = env.issues;
        if (issues === undefined) {
          for (const r of inner) r(c, child, env);
        } else {
          issues.enter(to);
          try {
            for (const r of inner) r(c, child, env);
          } catch (err) {
            // Left before anything else, so that an error passed up does not leave this
            // object's name in the path of later warnings.
            issues.leave();
            // A part the object cannot be without failed: the object is dropped.
            if (required || !issues.lenient(err, c.where)) throw err;
            issues.warn(err.code, err.message, err.location.source ?? c.where, to);
            return;
          }
          issues.leave();
        }
        write(target, child.result());
      };
      const build = (origin: SourceNode, target: Target, env: RunEnv) => {
        if (from === undefined) one(origin, target, env);
        else if (!many) {
          const c = readFirst(origin, from);
          if (c !== undefined) one(c, target, env);
        } else for (const c of readAll(origin, from)) one(c, target, env);
      };
      return (ctx, target, env) => {
        if (when && !when(ctx, env)) return;
        // With `following`, each following segment is the context of one object; with `from`,
        // each node it selects (every OBX-5 repetition for `OBX-5[*]`).
        if (!following) build(ctx, target, env);
        else for (const origin of ctx.following?.(following) ?? []) build(origin, target, env);
      };
    }
    const from = rule.from as string;
    const fromPath = SourcePath.of(from);
    const following = rule.following;
    // A `$this` rule merges into the object being built: it is as required as that object's
    // own elements, so what fails in it fails that object (or, at a resource, the run).
    const required = rule.required === true || to === '$this';
    const mustWrite = rule.required === true;
    const hasDefault = mustWrite && rule.default !== undefined;
    const fallback = rule.default;
    const many = to.endsWith('[]');
    /** Writes what `origin` gives; true when a value was written. */
    const one = (node: SourceNode, target: Target, env: RunEnv): boolean => {
      let value: unknown;
      try {
        value = transform ? transform(node, env, target) : node.value();
      } catch (err) {
        const issues = env.issues;
        // An optional element that cannot be converted is dropped, with a warning.
        if (!required && issues !== undefined && issues.lenient(err, node.where)) {
          issues.warn(err.code, err.message, err.location.source ?? node.where, to);
          return false;
        }
        wrap(err, node);
      }
      write(target, value);
      return value !== undefined && value !== '';
    };
    const apply = (origin: SourceNode, target: Target, env: RunEnv): boolean => {
      if (!many) {
        const node = readFirst(origin, fromPath);
        return node !== undefined && one(node, target, env);
      }
      let wrote = false;
      for (const node of readAll(origin, fromPath)) if (one(node, target, env)) wrote = true;
      return wrote;
    };
    const requiredSource = (ctx: SourceNode) =>
      `${ctx.where === 'message' ? '' : ctx.where + ' '}${from}`.trim();
    /** A required element given its default (lenient runs): the value, and why, as a warning. */
    const defaulted = (
      issues: RunIssues,
      target: Target,
      code: MappingErrorCode,
      message: string,
      source: string,
    ) => {
      write(target, fallback);
      issues.warn(code, message, source, to);
    };
    return (ctx, target, env) => {
      if (when && !when(ctx, env)) return;
      let wrote = false;
      const issues = env.issues;
      const lenientDefault = hasDefault && issues !== undefined && !issues.strict;
      try {
        if (!following) wrote = apply(ctx, target, env);
        else
          for (const origin of ctx.following?.(following) ?? []) if (apply(origin, target, env)) wrote = true;
      } catch (err) {
        // A required element whose value cannot be converted: its default, when it has one.
        if (!lenientDefault || !issues.lenient(err, requiredSource(ctx))) throw err;
        return defaulted(
          issues,
          target,
          MappingErrorCode.Defaulted,
          `${err.code}: ${err.message}; the default was written`,
          err.location.source ?? requiredSource(ctx),
        );
      }
      if (mustWrite && !wrote) {
        if (lenientDefault) {
          return defaulted(
            issues,
            target,
            MappingErrorCode.Defaulted,
            'a required value is empty; the default was written',
            requiredSource(ctx),
          );
        }
        throw new MappingError(MappingErrorCode.Required, `a value is required`, {
          source: requiredSource(ctx),
          target: to,
        });
      }
    };
  }
}

/** The scope of a sub-map's rules, from its kind, input, output and name (`CX[Identifier]`). */
function subMapScope(file: LoadedFile, spec: SubMapSpec): Scope {
  const fail = (code: MappingErrorCode, message: string): never => {
    throw new MappingError(code, message, { file: file.file, ...file.locate(['map']) });
  };
  const m = /^([A-Za-z0-9_]+)\[(.+)\]$/.exec(spec.map) as RegExpExecArray;
  const [source, written] = [m[1] as string, m[2] as string];
  const segmentName = /^[A-Z][A-Z0-9]{2}$/;
  const input = spec.input;
  const output = spec.output;
  let target: TargetScope;
  if (output === 'fhir') {
    const type = subMapFhirType(written);
    if (type instanceof PathProblem) return fail(type.code, type.message);
    target = { kind: 'object', ...type };
  } else if (output === 'json') target = { kind: 'object' };
  else if (spec.kind === 'segment') {
    if (!segmentName.test(written)) {
      fail(MappingErrorCode.Path, `a segment map to HL7 v2 names the segment it builds: ${source}[PID]`);
    }
    target = { kind: 'segment', segment: written };
  } else target = { kind: 'composite' };
  if (input !== 'hl7v2') return { input, output, source: 'document', target };
  if (spec.kind === 'datatype') return { input, output, source: 'value', target };
  if (!segmentName.test(source)) {
    fail(MappingErrorCode.Path, `a segment map from HL7 v2 names the segment it reads: PID[${written}]`);
  }
  return { input, output, source: 'segment', segment: source, target };
}
