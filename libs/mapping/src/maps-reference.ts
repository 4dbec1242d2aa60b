import type { TransformerLibrary } from './library';

const cell = (text: string) => text.replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();

/** The built-in maps page (docs/builtin-maps.md), generated from the transformer files. */
export function mapsReference(library: TransformerLibrary): string {
  const parts = [
    '# Built-in maps',
    '',
    'Generated from `transformers/` by `npm run docs`; a test fails when this page is out of date.',
    'Each message map lists what it reads, what it writes, the message types `sinew convert` picks',
    'it for, and what it produces: per resource (or segment, or JSON object), where one instance',
    'comes from and the segment or datatype map applied.',
    '',
  ];
  const transformers = [...library.transformers.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const t of transformers) {
    const s = t.spec;
    parts.push(`## \`${s.transformer}\``, '');
    if (s.description) parts.push(s.description.trim(), '');
    parts.push(`- ${s.input} → ${s.output}${s.message_type ? ` (\`${s.message_type}\`)` : ''}`);
    if (s.messages.length) parts.push(`- chosen for: ${s.messages.map((m) => `\`${m}\``).join(', ')}`);
    parts.push(`- file: \`${t.file.replace(/^.*?(transformers\/)/, '$1')}\``, '');
    const params = Object.entries(s.params);
    if (params.length) {
      parts.push('| parameter | type | values | default | description |', '|---|---|---|---|---|');
      for (const [name, p] of params) {
        const values = p.enum ? p.enum.map((v) => `\`${String(v)}\``).join(', ') : '';
        const byDefault = p.default === undefined ? '(required)' : `\`${String(p.default)}\``;
        parts.push(`| \`${name}\` | ${p.type} | ${values} | ${byDefault} | ${cell(p.description ?? '')} |`);
      }
      parts.push('');
    }
    parts.push('| produces | from | map | identity |', '|---|---|---|---|');
    for (const r of s.resources) {
      const what = r.type ?? (r.segment && s.output === 'hl7v2' ? `${r.segment} segment` : r.name);
      const from = r.each
        ? `each \`${cell(r.each)}\`${r.within ? ` within ${r.within}` : ''}`
        : r.segment && s.output !== 'hl7v2'
          ? `first \`${r.segment}\``
          : 'the message';
      const identity =
        r.identity === undefined
          ? ''
          : typeof r.identity === 'string'
            ? `\`${r.identity}\``
            : `\`${r.identity.path}\` (${r.identity.type})`;
      parts.push(`| ${what} (\`${r.name}\`) | ${from} | ${r.map ? `\`${r.map}\`` : ''} | ${identity} |`);
    }
    parts.push('');
  }
  const subs = [...library.registry.subMaps.values()].sort((a, b) => a.name.localeCompare(b.name));
  parts.push('## Segment and datatype maps', '', '| map | kind | description |', '|---|---|---|');
  for (const m of subs) parts.push(`| \`${m.name}\` | ${m.spec.kind} | ${cell(m.spec.description ?? '')} |`);
  parts.push(
    '',
    `Vocabularies: ${library.registry.vocabularies.size} (under \`transformers/vocab/\` and \`transformers/reverse/\`).`,
    '',
  );
  return parts.join('\n');
}
