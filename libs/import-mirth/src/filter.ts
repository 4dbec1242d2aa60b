import { mirthHl7Path, stringLiteral } from './hl7-path';
import type { Notes } from './report';
import { child, flag, mixedChildren, strings, text, type XmlNode } from './xml';

/** A Sinew condition, as the `filter` step and a destination's `filter` take it. */
export type Condition =
  | { path: string; equals: string }
  | { path: string; in: string[] }
  | { path: string; present: boolean }
  | { path: string; matches: string }
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

const RULE_BUILDER = 'com.mirth.connect.plugins.rulebuilder.RuleBuilderRule';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** One Rule Builder rule as a condition, or the reason it cannot be one. */
export function ruleCondition(rule: XmlNode): Condition | string {
  const field = text(rule, 'field') ?? '';
  const path = mirthHl7Path(field);
  if (!path || path.root !== 'msg') return `the field ${JSON.stringify(field)} is not a plain HL7 path`;
  const condition = (text(rule, 'condition') ?? '').trim();
  const rawValues = strings(rule, 'values');
  const values: string[] = [];
  for (const v of rawValues) {
    const literal = stringLiteral(v);
    if (literal === undefined && !/^-?\d+(\.\d+)?$/.test(v.trim()))
      return `the value ${JSON.stringify(v)} is an expression, not a constant`;
    values.push(literal ?? v.trim());
  }
  const p = path.path;
  switch (condition) {
    case 'EXISTS':
      return { path: p, present: true };
    case 'NOT_EXIST':
      return { path: p, present: false };
    case 'EQUALS':
    case 'NOT_EQUAL': {
      // Mirth compares with "" when the rule has no value.
      const eq: Condition =
        values.length === 0
          ? { path: p, present: false }
          : values.length === 1
            ? { path: p, equals: values[0] ?? '' }
            : { path: p, in: values };
      return condition === 'EQUALS' ? eq : { not: eq };
    }
    case 'CONTAINS':
    case 'NOT_CONTAIN': {
      const any: Condition = { path: p, matches: values.length ? values.map(escapeRegExp).join('|') : '' };
      return condition === 'CONTAINS' ? any : { not: any };
    }
    default:
      return `the condition ${JSON.stringify(condition)} is not one the importer knows`;
  }
}

/**
 * A Mirth filter (`<filter><elements>`) as one condition. Rules are joined as Mirth's generated
 * script joins them: `AND` binds tighter than `OR` (JavaScript's `&&` and `||`). Any rule that
 * cannot be converted leaves the whole filter unconverted: dropping one rule would let through
 * messages Mirth filters out.
 */
export function convertFilter(
  filter: XmlNode | undefined,
  notes: Notes,
  inboundHl7: boolean,
): { condition?: Condition; converted: boolean } {
  const rules = mixedChildren(child(filter, 'elements'));
  if (rules.length === 0) return { converted: true };
  const groups: Condition[][] = [[]];
  let failed = false;
  rules.forEach(({ tag, node }, i) => {
    const name = text(node, 'name') ?? '';
    const at = `elements/${tag.split('.').pop()}[${i}]`;
    const kind =
      tag === RULE_BUILDER
        ? 'Rule Builder rule'
        : tag.endsWith('JavaScriptRule')
          ? 'JavaScript rule'
          : (tag.split('.').pop() ?? tag);
    const what = `${kind} "${name}"`;
    if (flag(node, 'enabled') === false) {
      notes.exact(at, what, 'disabled in Mirth: left out, as Mirth ignores it');
      return;
    }
    const operator = (text(node, 'operator') ?? 'NONE').trim();
    if (operator === 'OR' && groups[groups.length - 1]?.length) groups.push([]);
    if (tag !== RULE_BUILDER) {
      failed = true;
      const script = text(node, 'script');
      notes.notConverted(
        at,
        what,
        script !== undefined
          ? 'JavaScript filter rule: kept as written; write it as a Sinew condition by hand'
          : 'a kind of rule the importer does not convert',
        script,
      );
      return;
    }
    if (!inboundHl7) {
      failed = true;
      notes.notConverted(
        at,
        what,
        'the rule reads a message that is not HL7 v2: write it as a FHIRPath condition',
        text(node, 'field'),
      );
      return;
    }
    const c = ruleCondition(node);
    if (typeof c === 'string') {
      failed = true;
      notes.notConverted(at, what, c, text(node, 'field'));
      return;
    }
    groups[groups.length - 1]?.push(c);
    notes.exact(
      at,
      what,
      `condition ${JSON.stringify(c)}${operator !== 'NONE' ? ` (joined with ${operator})` : ''}`,
    );
  });
  if (failed) return { converted: false };
  const parts = groups
    .filter((g) => g.length)
    .map((g): Condition => (g.length === 1 ? (g[0] as Condition) : { all: g }));
  if (parts.length === 0) return { converted: true };
  return { condition: parts.length === 1 ? parts[0] : { any: parts }, converted: true };
}
