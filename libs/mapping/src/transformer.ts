import crypto, { createHash } from 'node:crypto';
import { Hl7Message, hl7Now, type Hl7Segment } from '@sinew/hl7v2';
import type { MapRegistry } from './compile';
import { RunIssues, shownSource, type CompiledRule, type MappingWarning, type RunEnv } from './compile';
import { MappingError, MappingErrorCode } from './errors';
import { hdSystem, IDENTIFIER_SYSTEMS } from './functions/text.fn';
import { FhirRun } from './bundle-refs';
import type { LoadedFile } from './loader';
import { resolveParams, type ParamValue } from './params';
import { checkResourceType, checkSegmentName, checkSourcePath, type PathProblem, type Scope } from './scope';
import type { MessageMapSpec, ResourceSpec } from './spec';
import { FhirNode, firstOf, Hl7MessageNode, JsonNode, SourcePath, type SourceNode } from './source';
import { XmlNode } from './xml';
import { newArray, ObjectTarget, SegmentTarget } from './target';

/** A FHIR transaction Bundle as Sinew produces it. */
export interface TransactionBundle {
  resourceType: 'Bundle';
  type: 'transaction';
  entry: Array<{
    fullUrl: string;
    resource: Record<string, unknown>;
    request: { method: 'PUT' | 'POST'; url: string };
  }>;
}

export interface RunOptions {
  /** Clock for values that need one (MSH-7 of built HL7 messages). */
  now?: Date;
  /**
   * MSH-10 of a built HL7 message (at most 20 characters for v2.5.1). Without it, a hash of
   * the input and the clock: the same on every run with a fixed clock (`sinew test`), another
   * at another time. The engine gives one per received message and transformer.
   */
  controlId?: string;
  /**
   * Collects the run's warnings: optional elements dropped because their value could not be
   * converted, required elements given their map's `default` (`map.defaulted`). Each is also
   * a failure in no way: the run returns its output.
   */
  warnings?: MappingWarning[];
  /**
   * Strict: a required element the source leaves empty fails the run (`map.required`) even
   * when its rule gives a `default`. Default false (lenient).
   */
  strict?: boolean;
  /**
   * HL7 paths (`PID-3.1`, `OBR-3`) whose fields are keys beside the resources' identities (a
   * channel's `keys`): a value read from them that cannot be converted fails the run.
   */
  keys?: readonly string[];
  /**
   * Values of the map's parameters (`params:`), over those the transformer was bound to
   * (`withParams`); the rest take their defaults. Unknown names and ill-typed values throw
   * `map.param`.
   */
  params?: Readonly<Record<string, unknown>>;
}

/** What `runWithIssues` returns: the output and the warnings of the run. */
export interface RunResult {
  output: unknown;
  warnings: MappingWarning[];
}

/** One resource (or segment, or JSON object) the run produces, and where it reads from. */
class Instance {
  /** An earlier instance of the same type with the same identity: this one is not written. */
  duplicateOf?: Instance;
  target?: ObjectTarget;
  constructor(
    readonly spec: ResourceSpec,
    readonly ctx: SourceNode,
    readonly id: string,
    readonly identity: { system?: string; value: string } | undefined,
    readonly parent: Instance | undefined,
    /** Position of the instance's segment in the message (HL7 input), for grouping. */
    readonly position: number,
  ) {}
}

/** SHA-256 of `text` in hex: one call where Node has `crypto.hash` (20.12 and later). */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => createHash('sha256').update(text).digest('hex');

/** A UUID built from a hash of the parts, so the same input always gives the same id. */
export function deterministicUuid(...parts: string[]): string {
  return uuidOf(parts.join('\u0000'));
}

/**
 * The ids of resources with a business identity (a patient's MRN, a doctor's NPI, a sending
 * facility), most recently made first: the same ones arrive in message after message, and
 * each costs a SHA-256 otherwise. Bounded; ids of resources without identity (unique to one
 * message) are not kept.
 */
const identityIds = new Map<string, string>();
const IDENTITY_IDS_MAX = 4_096;

function identityUuid(...parts: string[]): string {
  const key = parts.join('\u0000');
  let id = identityIds.get(key);
  if (id === undefined) {
    id = uuidOf(key);
    if (identityIds.size >= IDENTITY_IDS_MAX) identityIds.clear();
    identityIds.set(key, id);
  }
  return id;
}

function uuidOf(text: string): string {
  const h = sha256Hex(text);
  const variant = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The components an identity reads: the value, and where each type keeps its authority. */
const ID_VALUE = SourcePath.of('1');
const ID_AUTHORITY = { CX: SourcePath.of('4'), XCN: SourcePath.of('9') };
const ID_EI_AUTHORITY = [SourcePath.of('2'), SourcePath.of('3'), SourcePath.of('4')];
const ID_PREFIX = 'urn:sinew:id:';
const NO_KEYS: readonly string[] = [];

/** A compiled message map: runs on one message (or FHIR resource / JSON document). */
export class MessageTransformer {
  private readonly resources: Array<{
    spec: ResourceSpec;
    rules: CompiledRule[];
    when?: (n: SourceNode) => boolean;
    /** The resource's `expect`, compiled (see MapRegistry.compileExpectation). */
    expect?: ReturnType<MapRegistry['compileExpectation']>;
  }>;
  private readonly bySpec = new Map<ResourceSpec, MessageTransformer['resources'][number]>();
  private readonly specByName = new Map<string, ResourceSpec>();

  constructor(
    readonly spec: MessageMapSpec,
    readonly file: string,
    private readonly registry: MapRegistry,
    loaded: LoadedFile,
  ) {
    const names = new Set<string>();
    this.resources = spec.resources.map((r, i) => {
      const at = ['resources', i];
      const fail = (message: string, key: string): never => {
        throw new MappingError(MappingErrorCode.Schema, message, { file, ...loaded.locate([...at, key]) });
      };
      if (names.has(r.name)) fail(`resource name ${r.name} is used twice`, 'name');
      if (r.within && !names.has(r.within))
        fail(`within: ${r.within} must name an earlier resource`, 'within');
      const place = (key: string) => ({ file, ...loaded.locate([...at, key]) });
      const problem = (p: PathProblem | undefined, key: string) => {
        if (p) throw new MappingError(p.code, p.message, place(key));
      };
      if (spec.output === 'fhir' && !r.type) fail('a resource of a FHIR transformer needs a type', 'name');
      if (spec.output === 'fhir' && r.type) problem(checkResourceType(r.type), 'type');
      if (spec.output === 'hl7v2' && !r.segment)
        fail('an HL7 v2 transformer builds segments: give segment', 'name');
      const scope = resourceScope(spec, r);
      if (spec.input === 'hl7v2' && r.each !== undefined) problem(checkSegmentName(r.each), 'each');
      else if (r.each !== undefined) problem(checkSourcePath(r.each, scope), 'each');
      if (r.identity !== undefined) {
        const path = typeof r.identity === 'string' ? r.identity : r.identity.path;
        problem(checkSourcePath(path, scope), 'identity');
      }
      if (r.map) {
        const sub = registry.subMaps.get(r.map);
        if (!sub) throw new MappingError(MappingErrorCode.Unknown, `no map named ${r.map}`, place('map'));
        const from = scope.source === 'segment' ? (scope.segment as string) : '.';
        const fhirType = scope.target.kind === 'object' ? scope.target.fhir : undefined;
        registry.checkSubMapUse(sub, scope, from, fhirType, () => place('map'));
      }
      names.add(r.name);
      return {
        spec: r,
        rules: registry.compileRules(r.rules, loaded, [...at, 'rules'], scope),
        when: r.when ? registry.compileCondition(r.when, loaded, [...at, 'when'], scope) : undefined,
        expect: r.expect
          ? registry.compileExpectation(r.expect, loaded, [...at, 'expect'], scope)
          : undefined,
      };
    });
    for (const r of this.resources) {
      if (!this.bySpec.has(r.spec)) this.bySpec.set(r.spec, r);
      if (!this.specByName.has(r.spec.name)) this.specByName.set(r.spec.name, r.spec);
    }
    for (const [i, r] of spec.resources.entries()) {
      for (const [j, rule] of r.rules.entries()) {
        if (rule.ref !== undefined && !names.has(rule.ref)) {
          throw new MappingError(MappingErrorCode.Unknown, `ref: no resource named ${rule.ref}`, {
            file,
            ...loaded.locate(['resources', i, 'rules', j, 'ref']),
          });
        }
      }
    }
  }

  /** Parameter values this transformer was bound to (`withParams`); none by default. */
  readonly boundParams: Readonly<Record<string, ParamValue>> = {};

  get name(): string {
    return this.spec.transformer;
  }

  /**
   * The same compiled map with parameter values bound: what a channel's map step with
   * `params` runs. Throws `map.param` for unknown names and ill-typed values.
   */
  withParams(params: Readonly<Record<string, unknown>>): MessageTransformer {
    const values = resolveParams(this.spec.params, { ...this.boundParams, ...params }, this.name);
    const given: Record<string, ParamValue> = {};
    for (const k of Object.keys(values))
      if (k in params || k in this.boundParams) given[k] = values[k] as ParamValue;
    const bound = Object.create(this) as MessageTransformer;
    Object.defineProperty(bound, 'boundParams', { value: Object.freeze(given), enumerable: true });
    return bound;
  }

  /**
   * The name with the bound parameters (`patient-to-adt?event=A28`): what tells two bindings
   * of one map apart (the control ids of the messages each builds).
   */
  get boundName(): string {
    const keys = Object.keys(this.boundParams).sort();
    if (keys.length === 0) return this.name;
    return `${this.name}?${keys.map((k) => `${k}=${String(this.boundParams[k])}`).join('&')}`;
  }

  /** `run`, returning the warnings with the output. */
  runWithIssues(input: Hl7Message | unknown, options: RunOptions = {}): RunResult {
    const warnings: MappingWarning[] = [];
    const output = this.run(input, { ...options, warnings });
    if (options.warnings) options.warnings.push(...warnings);
    return { output, warnings };
  }

  /**
   * Runs the map. HL7 v2 input takes an Hl7Message; FHIR and JSON input take parsed JSON.
   * Throws MappingError when a required element or a resource's identity cannot be built;
   * other conversion problems drop their element and are listed in `options.warnings`.
   */
  run(input: Hl7Message | unknown, options: RunOptions = {}): unknown {
    const params =
      options.params === undefined && Object.keys(this.spec.params).length === 0
        ? {}
        : resolveParams(this.spec.params, { ...this.boundParams, ...options.params }, this.name);
    const fhirRun = this.spec.input === 'fhir' ? new FhirRun(input, params) : undefined;
    const root = this.rootNode(input, params, fhirRun);
    const skipped: MappingWarning[] = [];
    const instances = this.instantiate(root, input, skipped);
    const byName = new Map<string, Instance[]>();
    for (const inst of instances) {
      const list = byName.get(inst.spec.name);
      if (list) list.push(inst);
      else byName.set(inst.spec.name, [inst]);
    }
    const issues = new RunIssues(options.strict === true);
    if (skipped.length > 0) issues.warnings.push(...skipped);
    const extraKeys = options.keys?.length ? fieldsOf(options.keys) : NO_KEYS;
    const env = (current: Instance): RunEnv => {
      const own = this.keysOf(current.spec);
      issues.begin(this.rootOf(current.spec), extraKeys.length ? [...own, ...extraKeys] : own);
      return {
        refs: (name, from) => this.refsFrom(current, name, byName.get(name) ?? [], from),
        issues,
      };
    };
    try {
      return this.build(instances, input, options, env);
    } finally {
      if (options.warnings) {
        options.warnings.push(...issues.warnings);
        for (const u of fhirRun?.unresolved ?? []) {
          options.warnings.push({
            code: MappingErrorCode.Unresolved,
            message: 'the reference points to no resource of the input; nothing was read through it',
            source: u.where,
          });
        }
      }
    }
  }

  /** Where the warnings of a resource's rules start: its FHIR type, its name, or nothing (HL7). */
  private rootOf(spec: ResourceSpec): string {
    if (this.spec.output === 'fhir') return spec.type ?? spec.name;
    if (this.spec.output === 'json') return spec.name;
    return '';
  }

  /** The `SEG-n` field a resource's identity reads (its key), for HL7 v2 input. */
  private keysOf(spec: ResourceSpec): readonly string[] {
    if (spec.identity === undefined || this.spec.input !== 'hl7v2') return NO_KEYS;
    let keys = this.keysBySpec.get(spec);
    if (keys === undefined) {
      keys = fieldsOf([typeof spec.identity === 'string' ? spec.identity : spec.identity.path]);
      this.keysBySpec.set(spec, keys);
    }
    return keys;
  }

  private readonly keysBySpec = new Map<ResourceSpec, readonly string[]>();

  private build(
    instances: Instance[],
    input: unknown,
    options: RunOptions,
    env: (i: Instance) => RunEnv,
  ): unknown {
    if (this.spec.output === 'hl7v2') return this.buildHl7(instances, input, options, env);

    for (const inst of instances) {
      if (inst.duplicateOf) continue;
      // Output objects are filled in member by member, not written as literals (see newArray).
      const root: Record<string, unknown> = {};
      if (this.spec.output === 'fhir') {
        root.resourceType = inst.spec.type;
        if (!inst.identity) root.id = inst.id;
      }
      const target = new ObjectTarget(root);
      const compiled = this.bySpec.get(inst.spec);
      const instEnv = env(inst);
      if (inst.spec.map) this.registry.subMaps.get(inst.spec.map)?.apply(inst.ctx, target, instEnv);
      for (const rule of compiled?.rules ?? []) rule(inst.ctx, target, instEnv);
      inst.target = target;
    }

    if (this.spec.output === 'json') {
      const out: Record<string, unknown> = {};
      for (const r of this.spec.resources) {
        const objs = instances.filter((i) => i.spec === r).map((i) => i.target?.obj ?? {});
        if (r.each) out[r.name] = objs;
        else if (objs[0]) out[r.name] = objs[0];
      }
      const only = this.spec.resources.length === 1 ? this.spec.resources[0] : undefined;
      return only && !only.each ? out[only.name] : out;
    }

    const bundle: TransactionBundle = { resourceType: 'Bundle', type: 'transaction', entry: newArray() };
    for (const inst of instances) {
      if (inst.duplicateOf) continue;
      const type = inst.spec.type as string;
      const url = inst.identity
        ? `${type}?identifier=${inst.identity.system ? `${encodeURIComponent(inst.identity.system)}|` : ''}${encodeURIComponent(inst.identity.value)}`
        : `${type}/${inst.id}`;
      const request = {} as TransactionBundle['entry'][number]['request'];
      request.method = 'PUT';
      request.url = url;
      const entry = {} as TransactionBundle['entry'][number];
      entry.fullUrl = `urn:uuid:${inst.id}`;
      entry.resource = inst.target?.obj ?? {};
      entry.request = request;
      bundle.entry.push(entry);
    }
    return bundle;
  }

  private rootNode(
    input: unknown,
    params: Readonly<Record<string, ParamValue>>,
    fhirRun: FhirRun | undefined,
  ): SourceNode {
    switch (this.spec.input) {
      case 'hl7v2':
        if (!(input instanceof Hl7Message)) {
          throw new MappingError(MappingErrorCode.Input, `${this.name} reads HL7 v2 messages`);
        }
        // A map writing HL7 v2 keeps formatting escapes (\.br\) as written; FHIR and JSON get text.
        return new Hl7MessageNode(input, {
          formatting: this.spec.output === 'hl7v2' ? 'keep' : 'text',
          params,
        });
      case 'fhir':
        if (!input || typeof input !== 'object' || !('resourceType' in input)) {
          throw new MappingError(MappingErrorCode.Input, `${this.name} reads a FHIR resource or Bundle`);
        }
        return new FhirNode(input, String((input as { resourceType: unknown }).resourceType), fhirRun);
      case 'xml':
        return new XmlNode(input, '$');
      default:
        return new JsonNode(input, '$', params);
    }
  }

  /** The instances of every resource; `skipped` gets a warning for each one an `expect` left out. */
  private instantiate(root: SourceNode, input: unknown, skipped: MappingWarning[]): Instance[] {
    const instances: Instance[] = [];
    const salt = this.instanceSalt(input);
    const byIdentity = new Map<string, Instance>();
    for (const { spec, when, expect } of this.resources) {
      const contexts: Array<{ ctx: SourceNode; position: number; parent?: Instance }> = [];
      if (root instanceof Hl7MessageNode && this.spec.input === 'hl7v2') {
        if (spec.each) {
          const segs = root.segments(spec.each);
          const parents = spec.within ? instances.filter((i) => i.spec.name === spec.within) : [];
          for (const node of segs) {
            const position = node.index;
            let parent: Instance | undefined;
            if (spec.within) {
              // The last parent at or before the segment: one from the same segment (a
              // Practitioner from OBX-16 within its OBX) counts.
              for (let k = parents.length - 1; k >= 0; k--) {
                const p = parents[k] as Instance;
                if (p.position <= position) {
                  parent = p;
                  break;
                }
              }
              if (!parent) continue;
            }
            contexts.push({ ctx: node, position, parent });
          }
        } else if (spec.segment && this.spec.output !== 'hl7v2') {
          const node = root.segments(spec.segment)[0];
          if (node) contexts.push({ ctx: node, position: node.index });
        } else contexts.push({ ctx: root, position: -1 });
      } else if (spec.each) {
        root.select(spec.each).forEach((ctx, position) => contexts.push({ ctx, position }));
      } else contexts.push({ ctx: root, position: -1 });

      let ordinal = 0;
      for (const c of contexts) {
        if (when && !when(c.ctx)) continue;
        if (expect?.test(c.ctx)) {
          skipped.push({
            code: MappingErrorCode.Unexpected,
            message: `${expect.message}; the resource was not produced`,
            source: shownSource(expect.source(c.ctx)),
            target: this.rootOf(spec),
          });
          continue;
        }
        ordinal++;
        const identity = spec.identity ? this.identityOf(c.ctx, spec.identity) : undefined;
        const key =
          identity && this.spec.output === 'fhir'
            ? `${spec.type}|${identity.system ?? ''}|${identity.value}`
            : undefined;
        const first = key === undefined ? undefined : byIdentity.get(key);
        const id = first
          ? first.id
          : identity
            ? identityUuid(this.name, spec.name, identity.system ?? '', identity.value)
            : deterministicUuid(this.name, spec.name, salt, String(c.position), String(ordinal));
        const inst = new Instance(spec, c.ctx, id, identity, c.parent, c.position);
        if (first) inst.duplicateOf = first;
        else if (key !== undefined) byIdentity.set(key, inst);
        instances.push(inst);
      }
    }
    return instances;
  }

  /** What makes an instance without business identifier unique: the message's identity. */
  private instanceSalt(input: unknown): string {
    if (input instanceof Hl7Message) {
      return [input.get('MSH-3'), input.get('MSH-4'), input.get('MSH-7'), input.get('MSH-10')].join('|');
    }
    return createHash('sha256').update(JSON.stringify(input)).digest('hex');
  }

  private identityOf(
    ctx: SourceNode,
    identity: NonNullable<ResourceSpec['identity']>,
  ): { system?: string; value: string } | undefined {
    const { path, type } = typeof identity === 'string' ? { path: identity, type: 'CX' } : identity;
    const node = firstOf(ctx, SourcePath.of(path));
    if (!node) return undefined;
    if (this.spec.input !== 'hl7v2') {
      const v = node.value() as { system?: unknown; value?: unknown } | string;
      if (typeof v === 'string') return { value: v };
      return typeof v.value === 'string'
        ? { value: v.value, system: typeof v.system === 'string' ? v.system : undefined }
        : undefined;
    }
    const part = (c: SourcePath) => firstOf(node, c)?.text() ?? '';
    const value = part(ID_VALUE);
    if (!value) return undefined;
    // Where the assigning authority (an HD) sits: CX.4, EI.2-4, XCN.9.
    const hd =
      type === 'EI'
        ? ID_EI_AUTHORITY.map(part).join('^').replace(/\^+$/, '')
        : part(type === 'XCN' ? ID_AUTHORITY.XCN : ID_AUTHORITY.CX).replace(/&/g, '^');
    return { value, system: hd ? this.systemOf(hd) : undefined };
  }

  /** The identifier system of an assigning authority; the few a feed uses are kept. */
  private systemOf(hd: string): string | undefined {
    if (this.systemByHd.has(hd)) return this.systemByHd.get(hd);
    const system = hdSystem(hd, ID_PREFIX, this.registry.vocabularies.get(IDENTIFIER_SYSTEMS)?.lookup);
    if (this.systemByHd.size >= 1_024) this.systemByHd.clear();
    this.systemByHd.set(hd, system);
    return system;
  }

  private readonly systemByHd = new Map<string, string | undefined>();

  /** References to the instances `named` (all of resource `name`) that `current` sees. */
  private refsFrom(current: Instance, name: string, named: Instance[], from?: SourceNode): unknown[] {
    const target = this.specByName.get(name);
    const fhir = this.spec.output === 'fhir';
    const ref = (i: Instance): unknown => {
      if (!fhir) return i.id;
      // Filled in, not a literal: see newArray.
      const r = {} as { reference: string };
      r.reference = `urn:uuid:${i.id}`;
      return r;
    };
    if (target?.within !== current.spec.name && current.spec.within === name && current.parent) {
      // The parent instance.
      return [ref(current.parent)];
    }
    // Read from another segment: the instances made from that segment.
    const segment = from?.segment && from.segment !== current.ctx.segment ? from.segment : undefined;
    // Children of `current`; or siblings under one parent (an OBX's Specimen under the same OBR),
    // which see only each other.
    const parent =
      target?.within === current.spec.name
        ? current
        : target?.within && target.within === current.spec.within && current.parent
          ? current.parent
          : undefined;
    const out: unknown[] = [];
    let firstId: string | undefined;
    let seen: Set<string> | undefined;
    for (const i of named) {
      if (segment !== undefined && i.ctx.segment !== segment) continue;
      if (parent !== undefined && i.parent !== parent) continue;
      // One reference per id: instances with the same identity share theirs.
      if (firstId === undefined) firstId = i.id;
      else {
        seen ??= new Set([firstId]);
        if (seen.has(i.id)) continue;
        seen.add(i.id);
      }
      out.push(ref(i));
    }
    return out;
  }

  private buildHl7(
    instances: Instance[],
    input: unknown,
    options: RunOptions,
    env: (i: Instance) => RunEnv,
  ): Hl7Message {
    const now = options.now ?? new Date();
    const msg = Hl7Message.create({
      type: this.spec.message_type ?? 'ADT^A31^ADT_A05',
      version: this.spec.version ?? '2.5.1',
      controlId:
        options.controlId ??
        createHash('sha256')
          .update(`${now.toISOString()}|${JSON.stringify(input)}`)
          .digest('hex')
          .slice(0, 20)
          .toUpperCase(),
      dateTime: hl7Now(now),
    });
    for (const inst of instances) {
      const name = inst.spec.segment as string;
      const seg = name === 'MSH' ? (msg.segments[0] as Hl7Segment) : msg.addSegment(name);
      const occurrence = msg.segmentsNamed(name).length;
      const target = new SegmentTarget(msg, seg, occurrence);
      const instEnv = env(inst);
      if (inst.spec.map) this.registry.subMaps.get(inst.spec.map)?.apply(inst.ctx, target, instEnv);
      const compiled = this.bySpec.get(inst.spec);
      for (const rule of compiled?.rules ?? []) rule(inst.ctx, target, instEnv);
    }
    return msg;
  }
}

/** The `SEG-n` fields of HL7 paths (`PID-3.1` → `PID-3`); other paths are left out. */
function fieldsOf(paths: readonly string[]): readonly string[] {
  const out: string[] = [];
  for (const p of paths) {
    const m = /^([A-Z][A-Z0-9]{2})(?:\[[^\]]*\])?-(\d+)/.exec(p);
    if (m) out.push(`${m[1]}-${m[2]}`);
  }
  return out.length ? out : NO_KEYS;
}

/** What a resource's rules read (its segment, or the message) and write (its type or segment). */
function resourceScope(spec: MessageMapSpec, r: ResourceSpec): Scope {
  const { input, output } = spec;
  const target: Scope['target'] =
    output === 'hl7v2'
      ? { kind: 'segment', segment: r.segment as string }
      : { kind: 'object', fhir: output === 'fhir' ? r.type : undefined };
  const params: ReadonlySet<string> = new Set(Object.keys(spec.params));
  if (input !== 'hl7v2') return { input, output, source: 'document', target, params };
  const segment = r.each ?? (output !== 'hl7v2' ? r.segment : undefined);
  return segment === undefined
    ? { input, output, source: 'message', target, params }
    : { input, output, source: 'segment', segment, target, params };
}
