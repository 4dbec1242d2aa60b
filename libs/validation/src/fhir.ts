import { validateResource } from '@medplum/core';
import { checkRequiredBindings } from './fhir-bindings';
import { loadFhirStructureDefinitions } from './fhir-definitions';
import { ValidationCode, type ValidationIssue } from './issue';

export interface FhirValidationOptions {
  /** Check codes against required bindings (default true). */
  bindings?: boolean;
}

type Json = Record<string, unknown>;

/** The fields of a medplum OperationOutcome issue this module reads. */
interface OperationOutcomeIssue {
  severity?: string;
  code?: string;
  details?: { text?: string };
  diagnostics?: string;
  expression?: string[];
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A medplum path with `value[x]` written as the property the resource uses
 * (`Observation.value[x].value` → `Observation.valueQuantity.value`).
 */
function concretePath(root: Json, path: string): string {
  if (!path.includes('[x]')) return path;
  const parts = path.split('.');
  let cur: unknown = root;
  const out = [parts[0] as string];
  for (const part of parts.slice(1)) {
    const m = /^(.*?)((?:\[\d+\])?)$/.exec(part) as RegExpExecArray;
    let name = m[1] as string;
    const index = m[2] as string;
    if (name.endsWith('[x]') && isObject(cur)) {
      const base = name.slice(0, -3);
      const key = Object.keys(cur).find((k) => k.startsWith(base) && /^[A-Z]/.test(k.slice(base.length)));
      if (key) name = key;
    }
    out.push(name + index);
    cur = isObject(cur) ? cur[name] : undefined;
    if (index && Array.isArray(cur)) cur = cur[Number(index.slice(1, -1))];
  }
  return out.join('.');
}

function readAt(root: Json, path: string): unknown {
  let cur: unknown = root;
  for (const part of path.split('.').slice(1)) {
    const m = /^(.*?)(?:\[(\d+)\])?$/.exec(part) as RegExpExecArray;
    cur = isObject(cur) ? cur[m[1] as string] : undefined;
    if (m[2] !== undefined) cur = Array.isArray(cur) ? cur[Number(m[2])] : undefined;
  }
  return cur;
}

/** Medplum's texts, minus the one that quotes a value (a reference). */
function safeText(text: string): string {
  return text.replace(/got "[^"]*"/g, 'got a reference').slice(0, 400);
}

function fromMedplum(root: Json, issue: OperationOutcomeIssue): ValidationIssue {
  const text = issue.details?.text ?? issue.diagnostics ?? 'invalid';
  const where = issue.expression?.[0];
  const location = where ? concretePath(root, where) : String(root.resourceType);
  const code =
    text === 'Missing required property'
      ? ValidationCode.FhirRequired
      : issue.code === 'invariant'
        ? ValidationCode.FhirInvariant
        : issue.code === 'invalid'
          ? ValidationCode.FhirInvalid
          : ValidationCode.FhirStructure;
  return {
    severity: issue.severity === 'error' || issue.severity === 'fatal' ? 'error' : 'warning',
    code,
    location,
    message: `${location}: ${safeText(text)}`,
  };
}

function medplumIssues(resource: Json): OperationOutcomeIssue[] {
  try {
    return validateResource(
      resource as unknown as Parameters<typeof validateResource>[0],
    ) as OperationOutcomeIssue[];
  } catch (e) {
    const outcome = (e as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome;
    if (outcome?.issue) return outcome.issue;
    throw e;
  }
}

/** The structure check of one resource (a Bundle includes its entries). */
function structureIssues(root: Json): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  try {
    for (const issue of medplumIssues(root)) out.push(fromMedplum(root, issue));
    return out;
  } catch {
    // One malformed entry can stop the whole Bundle's check: check the entries one by one.
  }
  const entries = root.resourceType === 'Bundle' && Array.isArray(root.entry) ? root.entry : undefined;
  if (!entries) {
    return [
      {
        severity: 'error',
        code: ValidationCode.FhirInvalid,
        location: String(root.resourceType),
        message: `${String(root.resourceType)} could not be read as a FHIR resource`,
      },
    ];
  }
  const shell = { ...root, entry: entries.map((e) => (isObject(e) ? { ...e, resource: undefined } : e)) };
  out.push(...structureIssues(shell).filter((i) => !/^Bundle\.entry\[\d+\]$/.test(i.location)));
  entries.forEach((e, i) => {
    if (!isObject(e) || !isObject(e.resource)) return;
    const prefix = `Bundle.entry[${i}].resource`;
    for (const issue of validateOne(e.resource, { bindings: false })) {
      const rest = issue.location.slice(
        issue.location.indexOf('.') >= 0 ? issue.location.indexOf('.') : issue.location.length,
      );
      const location = prefix + rest;
      out.push({ ...issue, location, message: issue.message.replace(issue.location, location) });
    }
  });
  return out;
}

/** fullUrl → resource type of a Bundle's entries. */
function bundleTargets(bundle: Json): Map<string, string> {
  const targets = new Map<string, string>();
  if (!Array.isArray(bundle.entry)) return targets;
  for (const e of bundle.entry) {
    if (isObject(e) && typeof e.fullUrl === 'string' && isObject(e.resource)) {
      targets.set(e.fullUrl, String(e.resource.resourceType));
    }
  }
  return targets;
}

/** Every `urn:uuid:` reference in the entries that names no entry's fullUrl. */
function unresolvedReferences(bundle: Json, targets: ReadonlyMap<string, string>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  // The path below the entry's resource, as pieces (`.code`, `[0]`), joined only for an issue.
  const pieces: string[] = [];
  let base = '';
  const visit = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        if (typeof x !== 'object' || x === null) return;
        pieces.push(`[${i}]`);
        visit(x);
        pieces.pop();
      });
    } else if (isObject(v)) {
      for (const k of Object.keys(v)) {
        const x = v[k];
        if (k === 'reference' && typeof x === 'string' && x.startsWith('urn:uuid:') && !targets.has(x)) {
          const path = base + pieces.join('');
          issues.push({
            severity: 'error',
            code: ValidationCode.FhirReference,
            location: `${path}.reference`,
            message: `${path}.reference names a urn:uuid that is no entry's fullUrl in this Bundle`,
          });
        } else if (typeof x === 'object' && x !== null) {
          pieces.push(`.${k}`);
          visit(x);
          pieces.pop();
        }
      }
    }
  };
  if (Array.isArray(bundle.entry)) {
    bundle.entry.forEach((e, i) => {
      if (!isObject(e)) return;
      base = `Bundle.entry[${i}].resource`;
      visit(e.resource);
    });
  }
  return issues;
}

function validateOne(resource: Json, options: FhirValidationOptions): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const isBundle = resource.resourceType === 'Bundle';
  const targets = isBundle ? bundleTargets(resource) : new Map<string, string>();
  for (const issue of structureIssues(resource)) {
    // Medplum cannot type a urn:uuid reference and warns; Bundle references are checked below.
    if (isBundle && issue.message.includes('Invalid reference')) {
      const ref = readAt(resource, issue.location);
      if (isObject(ref) && typeof ref.reference === 'string' && ref.reference.startsWith('urn:uuid:'))
        continue;
    }
    issues.push(issue);
  }
  if (isBundle) issues.push(...unresolvedReferences(resource, targets));
  if (options.bindings !== false) {
    issues.push(...checkRequiredBindings(resource, String(resource.resourceType), targets));
  }
  return issues;
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.code}\u0000${i.location}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Validates a FHIR R4 resource or Bundle: the structure (types, cardinality, unknown
 * properties, formats, invariants) with `@medplum/core`'s validator, every Bundle entry with
 * locations `Bundle.entry[i].resource…`; codes against required bindings, which that validator
 * does not check (`fhir.binding`); and, in a Bundle, that each `urn:uuid:` reference names an
 * entry of an allowed type (`fhir.reference`). The definitions load once, on first use. Never
 * throws: input that is not a resource gives a `fhir.invalid` issue.
 */
export function validateFhir(input: unknown, options: FhirValidationOptions = {}): ValidationIssue[] {
  if (!isObject(input) || typeof input.resourceType !== 'string' || input.resourceType === '') {
    return [
      {
        severity: 'error',
        code: ValidationCode.FhirInvalid,
        location: 'Resource',
        message: 'the input is not a FHIR resource (an object with a resourceType)',
      },
    ];
  }
  try {
    loadFhirStructureDefinitions();
    return dedupe(validateOne(input, options));
  } catch {
    return [
      {
        severity: 'error',
        code: ValidationCode.Internal,
        location: input.resourceType,
        message: `the FHIR check failed on this ${input.resourceType}`,
      },
    ];
  }
}
