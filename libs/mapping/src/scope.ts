import { parseFhirPath } from '@medplum/core';
import { parsePath } from '@sinew/hl7v2';
import { MappingErrorCode } from './errors';
import { ANY, didYouMean, FhirTypes, shownType } from './fhir-elements';
import { PARAM_PATH, paramsRead } from './params';
import { parseTargetPath } from './target';

/**
 * What the rules at one place of a transformer read and write, worked out when they are
 * compiled, so that every `from`, `when` path and `to` is checked at load with its position.
 */
export interface Scope {
  input: 'hl7v2' | 'fhir' | 'json' | 'csv' | 'xml';
  output: 'fhir' | 'hl7v2' | 'json';
  /**
   * HL7 input: what paths read from: the whole message (`PID-3`), one segment (its own fields,
   * `OBX-5`, and other segments), or one field value (components `1`, `4.2`, `.`, and the
   * fields of its segment). FHIR and JSON input: a document node.
   */
  source: 'message' | 'segment' | 'value' | 'document';
  /** The segment a segment scope reads (`OBX`). */
  segment?: string;
  target: TargetScope;
  /**
   * The parameters the message map declares (`%event` reads one); undefined in segment and
   * datatype maps, which take none.
   */
  params?: ReadonlySet<string>;
}

/**
 * Where `to` writes: an object (of FHIR type `fhir`, `*` for any resource; no type for JSON
 * output: names are not checked), the fields of one HL7 segment, or one HL7 composite value.
 */
export type TargetScope =
  | { kind: 'object'; fhir?: string; choice?: string }
  | { kind: 'segment'; segment: string }
  | { kind: 'composite' };

/** A path problem, found at load: its code and text (the caller adds the position). */
export class PathProblem {
  constructor(
    readonly code: MappingErrorCode,
    readonly message: string,
  ) {}
}

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;
const BARE_SEGMENT = /^([A-Z][A-Z0-9]{2})(\[(?:\d+|\*)\])?$/;
const COMPONENT_PATH = /^\d+(\.\d+)?$/;
const JSON_STEP = /^([^[\]]+)((?:\[(?:\d+|\*)\])*)$/;

function hl7Path(text: string): PathProblem | undefined {
  try {
    parsePath(text);
    return undefined;
  } catch (err) {
    return new PathProblem(MappingErrorCode.Path, err instanceof Error ? err.message : String(err));
  }
}

/**
 * Checks a path that reads from `scope` (a `from`, a condition path, an identity): undefined
 * when it can be read there, else the problem.
 */
export function checkSourcePath(text: string, scope: Scope): PathProblem | undefined {
  if (scope.input !== 'fhir' && text.startsWith('%')) {
    const name = PARAM_PATH.exec(text)?.[1];
    if (name === undefined) {
      return new PathProblem(
        MappingErrorCode.Path,
        `${JSON.stringify(text)} is not a parameter path (%event)`,
      );
    }
    return checkParam(name, scope);
  }
  if (scope.input === 'fhir') {
    for (const name of paramsRead(text)) {
      const problem = checkParam(name, scope);
      if (problem) return problem;
    }
    if (PARAM_PATH.test(text)) return undefined;
  }
  switch (scope.source) {
    case 'document':
      if (text === '.' || text === '$this' || text === '$') return undefined;
      if (scope.input === 'json' || scope.input === 'csv' || scope.input === 'xml') {
        const steps = text.replace(/^\$\.?/, '').split('.');
        return steps.every((s) => JSON_STEP.test(s))
          ? undefined
          : new PathProblem(
              MappingErrorCode.Path,
              `${JSON.stringify(text)} is not a JSON path (a.b[0].c, items[*].id)`,
            );
      }
      try {
        parseFhirPath(text);
        return undefined;
      } catch (err) {
        return new PathProblem(
          MappingErrorCode.Path,
          `${JSON.stringify(text)} is not a FHIRPath expression: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    case 'value':
      if (text === '.' || COMPONENT_PATH.test(text)) return undefined;
      if (/^[A-Z]/.test(text)) return hl7Path(text);
      return new PathProblem(
        MappingErrorCode.Path,
        `${JSON.stringify(text)} is not a component path (1, 4.2), "." or an HL7 path (OBX-2)`,
      );
    default:
      if (COMPONENT_PATH.test(text) || text === '.') {
        const suggestion =
          scope.source === 'segment' && text !== '.' ? `: write ${scope.segment ?? ''}-${text}` : '';
        return new PathProblem(
          MappingErrorCode.Path,
          `${JSON.stringify(text)} reads inside a field value; these rules read ${
            scope.source === 'segment' ? `a ${scope.segment ?? ''} segment` : 'the whole message'
          }${suggestion}`,
        );
      }
      return hl7Path(text);
  }
}

/** What a checked `from` selects in `scope`: the scope its node gives nested rules. */
export function selectedScope(text: string, scope: Scope, target: TargetScope): Scope {
  if (scope.input !== 'hl7v2' || text === '.') return { ...scope, target };
  const bare = BARE_SEGMENT.exec(text);
  if (bare) return { ...scope, source: 'segment', segment: bare[1], target };
  return { ...scope, source: 'value', segment: undefined, target };
}

/** Checks that parameter `name` may be read where `scope` reads. */
function checkParam(name: string, scope: Scope): PathProblem | undefined {
  if (scope.params === undefined) {
    return new PathProblem(
      MappingErrorCode.Path,
      `%${name}: segment and datatype maps take no parameters; read it in the message map's rules`,
    );
  }
  if (scope.params.has(name)) return undefined;
  const known = [...scope.params];
  return new PathProblem(
    MappingErrorCode.Path,
    `%${name}: the map declares no parameter ${name}${known.length ? ` (it has ${known.map((k) => `%${k}`).join(', ')})` : ' (declare it under params)'}`,
  );
}

/** Checks a segment name (`each: OBX`, `following: NTE`). */
export function checkSegmentName(text: string): PathProblem | undefined {
  return SEGMENT_NAME.test(text)
    ? undefined
    : new PathProblem(MappingErrorCode.Path, `${JSON.stringify(text)} is not a segment name (PID, OBX, ZPI)`);
}

/** Where a `to` leads: the scope nested rules and sub-maps at that place write into. */
export interface TargetAt {
  /** The FHIR type at the place (object targets of FHIR output), `*` for any resource. */
  fhir?: string;
  /** The element there is a list written without an index (a list value replaces it). */
  wholeList?: boolean;
}

function checkObjectPath(
  text: string,
  type: string | undefined,
  choice: string | undefined,
  valueIsList: boolean,
): TargetAt | PathProblem {
  if (text === '$this') return { fhir: type };
  let steps: ReturnType<typeof parseTargetPath>;
  try {
    steps = parseTargetPath(text);
  } catch (err) {
    return new PathProblem(MappingErrorCode.Path, err instanceof Error ? err.message : String(err));
  }
  if (type === undefined) return {};
  const first = (steps[0] as (typeof steps)[number]).key;
  if (choice !== undefined && !isChoiceOf(first, choice)) {
    return new PathProblem(
      MappingErrorCode.FhirElement,
      `these rules build ${shownType(type)}.${choice}[x]: write ${choice}Quantity, ${choice}String…, not ${first}`,
    );
  }
  const fhir = FhirTypes.get();
  let current = type;
  let where = shownType(type);
  let wholeList = false;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as (typeof steps)[number];
    if (current === ANY) return {};
    const elements = fhir.elements(current);
    if (!elements || elements.size === 0) {
      return new PathProblem(
        MappingErrorCode.FhirElement,
        `${where} is a FHIR ${current}: it has no elements (${step.key})`,
      );
    }
    const element = elements.get(step.key);
    if (!element) {
      return new PathProblem(
        MappingErrorCode.FhirElement,
        `${where} has no element ${step.key} in FHIR R4${didYouMean(step.key, elements.keys())}`,
      );
    }
    const last = i === steps.length - 1;
    if (step.index !== undefined && !element.list) {
      return new PathProblem(
        MappingErrorCode.FhirElement,
        `${where}.${step.key} is not a list in FHIR R4: write ${step.key} without [ ]`,
      );
    }
    if (step.index === undefined && element.list) {
      if (!last || !valueIsList) {
        return new PathProblem(
          MappingErrorCode.FhirElement,
          `${where}.${step.key} is a list in FHIR R4: write ${step.key}[] (a new item) or ${step.key}[0]`,
        );
      }
      wholeList = true;
    }
    where = `${where}.${step.key}`;
    current = element.type;
  }
  return { fhir: current, wholeList };
}

/**
 * Checks a `to` in `scope`: the path's syntax for the target, and for FHIR output that every
 * element exists in R4 (with a suggestion for a near miss) and lists are written as lists.
 * `valueIsList`: the value written is itself a list (a `const` list), so a list element may be
 * written without an index.
 */
export function checkTargetPath(text: string, scope: Scope, valueIsList: boolean): TargetAt | PathProblem {
  const t = scope.target;
  if (t.kind === 'object') return checkObjectPath(text, t.fhir, t.choice, valueIsList);
  if (t.kind === 'composite') {
    return COMPONENT_PATH.test(text)
      ? {}
      : new PathProblem(
          MappingErrorCode.Path,
          `${JSON.stringify(text)} is not a component path (1, 4.2): these rules build one HL7 value`,
        );
  }
  const bare = text.endsWith('[]') ? text.slice(0, -2) : text;
  const full = /^\d/.test(bare) ? `${t.segment}-${bare}` : bare;
  const problem = hl7Path(full);
  if (problem) return problem;
  const p = parsePath(full);
  if (p.segment !== t.segment || p.field === undefined || p.occurrence !== 1 || p.repetition === '*') {
    return new PathProblem(
      MappingErrorCode.Path,
      `${JSON.stringify(text)} is not a field of the ${t.segment} segment being built (${t.segment}-5.1, ${t.segment}-3[], 5.1)`,
    );
  }
  return {};
}

/**
 * Checks a `const` object written where FHIR type `type` is expected: every member an element
 * of that type, lists as lists. Undefined when it fits (or when nothing is known to check).
 */
export function checkConstValue(value: unknown, type: string | undefined): PathProblem | undefined {
  if (type === undefined || type === ANY || value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = checkConstValue(item, type);
      if (problem) return problem;
    }
    return undefined;
  }
  const fhir = FhirTypes.get();
  const elements = fhir.elements(type);
  if (!elements) return undefined;
  for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
    const element = elements.get(key);
    if (!element) {
      return new PathProblem(
        MappingErrorCode.FhirElement,
        `${shownType(type)} has no element ${key} in FHIR R4${didYouMean(key, elements.keys())}`,
      );
    }
    if (element.list !== Array.isArray(member)) {
      return new PathProblem(
        MappingErrorCode.FhirElement,
        `${shownType(type)}.${key} ${element.list ? 'is a list' : 'is not a list'} in FHIR R4`,
      );
    }
    const problem = checkConstValue(member, element.type);
    if (problem) return problem;
  }
  return undefined;
}

/** The FHIR type a resource declaration names, or the problem (with a suggestion). */
export function checkResourceType(name: string): PathProblem | undefined {
  const fhir = FhirTypes.get();
  if (fhir.resourceTypes.has(name)) return undefined;
  return new PathProblem(
    MappingErrorCode.FhirType,
    `${name} is not a FHIR R4 resource type${didYouMean(name, fhir.resourceTypes)}`,
  );
}

/** `valueQuantity` is one of the choice element `value[x]`'s names. */
const isChoiceOf = (key: string, choice: string) =>
  key.startsWith(choice) && /^[A-Z]/.test(key.slice(choice.length));

/**
 * The FHIR type a sub-map's name gives its rules: `CX[Identifier]` → Identifier,
 * `XTN[ContactPoint-Home]` → ContactPoint (a variant), `OBX[DocumentReference.content]` → that
 * backbone element, `SN[Observation.value]` → the choice element `value[x]` of Observation (the
 * rules write `valueQuantity`, `valueString`… into the object the result is merged into).
 */
export function subMapFhirType(bracket: string): { fhir: string; choice?: string } | PathProblem {
  const fhir = FhirTypes.get();
  const [head, ...steps] = bracket.split('.');
  const base = (head as string).replace(/-[A-Za-z0-9]+$/, '');
  let type = fhir.resolve(base);
  if (type === undefined) {
    return new PathProblem(
      MappingErrorCode.FhirType,
      `${base} is not a FHIR R4 type${didYouMean(base, fhir.typeNames())}`,
    );
  }
  for (const [i, step] of steps.entries()) {
    const elements = fhir.elements(type) as ReadonlyMap<string, { type: string }>;
    const element = elements.get(step);
    if (element) {
      type = element.type;
      continue;
    }
    if (i === steps.length - 1 && [...elements.keys()].some((k) => isChoiceOf(k, step))) {
      return { fhir: type, choice: step };
    }
    return new PathProblem(
      MappingErrorCode.FhirElement,
      `${shownType(type)} has no element ${step} in FHIR R4${didYouMean(step, elements.keys())}`,
    );
  }
  return { fhir: type };
}

/**
 * True when what a sub-map builds (FHIR type `value`, or the choice element `choice` of a type)
 * may be written where type `at` is expected.
 */
export function fhirTypeFits(value: string, at: string, choice?: string): boolean {
  if (at === ANY) return true;
  if (choice !== undefined) {
    const elements = FhirTypes.get().elements(at);
    return elements !== undefined && [...elements.keys()].some((k) => isChoiceOf(k, choice));
  }
  if (value === at) return true;
  // Quantity's R4 specialisations hold a Quantity's elements.
  return value === 'Quantity' && ['Age', 'Count', 'Distance', 'Duration'].includes(at);
}
