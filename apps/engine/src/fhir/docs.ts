import type { HubSearchParamInfo } from '@sinew/hub';
import { includableParams } from './search';

/** Where the generated table sits in docs/open-api/fhir-api.md. */
export const SEARCH_PARAMS_START = '<!-- search-params:start (generated from the hub: do not edit) -->';
export const SEARCH_PARAMS_END = '<!-- search-params:end -->';

/** The search parameters per resource type as a Markdown section, from `hub.searchParams()`. */
export function searchParamsMarkdown(
  params: Readonly<Record<string, readonly HubSearchParamInfo[]>>,
): string {
  const lines: string[] = [];
  for (const type of Object.keys(params).sort()) {
    const list = params[type]!;
    lines.push(`### ${type}`, '', '| parameter | type | meaning |', '|---|---|---|');
    for (const p of list)
      lines.push(`| \`${p.name}\` | ${p.type} | ${p.documentation.replace(/\|/g, '\\|')} |`);
    const includes = includableParams(list).map((p) => `\`${type}:${p}\``);
    lines.push('', `\`_include\`: ${includes.length ? includes.join(', ') : 'none'}.`, '');
  }
  return lines.join('\n');
}

/** The document with its generated section replaced. */
export function withSearchParams(doc: string, section: string): string {
  const start = doc.indexOf(SEARCH_PARAMS_START);
  const end = doc.indexOf(SEARCH_PARAMS_END);
  if (start < 0 || end < start) throw new Error('the document has no search-params section');
  return `${doc.slice(0, start + SEARCH_PARAMS_START.length)}\n\n${section}\n${doc.slice(end)}`;
}
