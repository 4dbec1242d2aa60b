import { mirthHl7Path } from './hl7-path';
import { translateScript, valueSource, type ValueSource } from './javascript';
import type { Notes } from './report';
import { child, flag, mixedChildren, text, type XmlNode } from './xml';

function hasChildren(node: XmlNode | undefined): boolean {
  return !!node && Object.keys(node).some((k) => !k.startsWith('@_') && k !== '#text');
}

const MAPPER = 'com.mirth.connect.plugins.mapper.MapperStep';
const BUILDER = 'com.mirth.connect.plugins.messagebuilder.MessageBuilderStep';
const JAVASCRIPT = 'com.mirth.connect.plugins.javascriptstep.JavaScriptStep';

/** What a connector's transformer steps convert to. */
export interface ConvertedSteps {
  /** Named values (Mapper steps, `channelMap.put`): become business keys and a JSON map. */
  variables: Array<{ name: string; value: ValueSource }>;
  /** Fields of the outbound message (Message Builder steps, `tmp[…] = …`): an HL7 v2 map. */
  fields: Array<{ target: string; value: ValueSource }>;
  /** Steps that did not convert. */
  unconverted: number;
}

function stepName(tag: string): string {
  if (tag === MAPPER) return 'Mapper step';
  if (tag === BUILDER) return 'Message Builder step';
  if (tag === JAVASCRIPT) return 'JavaScript step';
  return `${tag.split('.').pop() ?? tag} step`;
}

function describe(v: ValueSource): string {
  return 'from' in v ? `from ${v.from}` : `the constant ${JSON.stringify(v.const)}`;
}

/** Converts the steps of a `<transformer>` (source or destination). */
export function convertSteps(
  transformer: XmlNode | undefined,
  notes: Notes,
  inboundHl7: boolean,
): ConvertedSteps {
  const out: ConvertedSteps = { variables: [], fields: [], unconverted: 0 };
  mixedChildren(child(transformer, 'elements')).forEach(({ tag, node }, i) => {
    const name = text(node, 'name') ?? '';
    const at = `elements/${tag.split('.').pop()}[${i}]`;
    const what = `${stepName(tag)} "${name}"`;
    if (flag(node, 'enabled') === false) {
      notes.exact(at, what, 'disabled in Mirth: left out, as Mirth ignores it');
      return;
    }
    const fail = (reason: string, verbatim?: string) => {
      out.unconverted++;
      notes.notConverted(at, what, reason, verbatim);
    };
    if (tag === MAPPER || tag === BUILDER) {
      const mapping = text(node, 'mapping') ?? '';
      const value = inboundHl7 ? valueSource(mapping) : undefined;
      if (!value) {
        fail(
          inboundHl7
            ? 'the mapping is an expression, not a plain HL7 path or a constant'
            : 'the step reads a message that is not HL7 v2',
          mapping,
        );
        return;
      }
      const caveats: string[] = [];
      if (hasChildren(child(node, 'replacements'))) caveats.push('its replacements are not applied');
      const dflt = text(node, 'defaultValue') ?? '';
      if (dflt)
        caveats.push(
          `its default value ${JSON.stringify(dflt)} is not applied (an empty source leaves the value out)`,
        );
      if ('from' in value && value.fieldOnly)
        caveats.push(
          'a whole field is read as its encoded text, where Mirth gives the XML of its components',
        );
      if (tag === MAPPER) {
        const variable = (text(node, 'variable') ?? '').trim();
        const scope = (text(node, 'scope') ?? 'CHANNEL').trim();
        if (!/^[A-Za-z_]\w*$/.test(variable)) {
          fail(`the variable name ${JSON.stringify(variable)} cannot be a key name`, mapping);
          return;
        }
        if (scope !== 'CHANNEL') caveats.push(`Mirth scope ${scope} (Sinew has no global or connector map)`);
        out.variables.push({ name: variable, value });
        const note = `value "${variable}" ${describe(value)}`;
        if (caveats.length) notes.approximate(at, what, `${note}; ${caveats.join('; ')}`);
        else notes.exact(at, what, note);
      } else {
        const target = mirthHl7Path(text(node, 'messageSegment') ?? '');
        if (!target || target.root !== 'tmp' || target.fieldOnly) {
          fail(
            'the target is not a component of the outbound message (tmp[…][…][…])',
            text(node, 'messageSegment'),
          );
          return;
        }
        out.fields.push({ target: target.path, value });
        const note = `${target.path} ← ${describe(value)}`;
        if (caveats.length) notes.approximate(at, what, `${note}; ${caveats.join('; ')}`);
        else notes.exact(at, what, note);
      }
      return;
    }
    if (tag === JAVASCRIPT) {
      const script = text(node, 'script') ?? '';
      const idioms = inboundHl7 ? translateScript(script) : undefined;
      if (!idioms) {
        fail('JavaScript: kept as written; the declarative rules cannot express it with certainty', script);
        return;
      }
      for (const idiom of idioms) {
        if (idiom.kind === 'variable') out.variables.push({ name: idiom.name, value: idiom.value });
        else out.fields.push({ target: idiom.target, value: idiom.value });
      }
      notes.exact(
        at,
        what,
        idioms.length
          ? `translated: ${idioms.map((d) => (d.kind === 'variable' ? `value "${d.name}" ${describe(d.value)}` : `${d.target} ← ${describe(d.value)}`)).join('; ')}`
          : 'holds only comments: nothing to do',
      );
      return;
    }
    fail(
      `a ${stepName(tag)} is not converted (only Mapper, Message Builder and JavaScript steps are)`,
      text(node, 'script') ?? text(node, 'template'),
    );
  });
  return out;
}
