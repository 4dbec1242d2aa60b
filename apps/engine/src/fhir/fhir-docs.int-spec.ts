import { makeTestHub } from '@sinew/test-support/fhir-hub-double';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SEARCH_PARAMS_END, SEARCH_PARAMS_START, searchParamsMarkdown, withSearchParams } from './docs';

const DOC = join(__dirname, '..', '..', '..', '..', 'docs', 'open-api', 'fhir-api.md');

/** The generated section, with Markdown table padding (as prettier lays it out) ignored. */
function section(doc: string): string {
  const start = doc.indexOf(SEARCH_PARAMS_START);
  const end = doc.indexOf(SEARCH_PARAMS_END);
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return doc
    .slice(start + SEARCH_PARAMS_START.length, end)
    .split('\n')
    .map((l) =>
      l
        .trim()
        .replace(/\s*\|\s*/g, '|')
        .replace(/-{3,}/g, '---'),
    )
    .filter(Boolean)
    .join('\n');
}

describe('docs/open-api/fhir-api.md', () => {
  it("lists exactly the hub's search parameters per type (SINEW_UPDATE_DOCS=1 regenerates them)", async () => {
    const hub = await makeTestHub();
    const generated = searchParamsMarkdown(hub.searchParams());
    await hub.close();
    if (process.env.SINEW_UPDATE_DOCS === '1')
      writeFileSync(DOC, withSearchParams(readFileSync(DOC, 'utf8'), generated));
    const doc = readFileSync(DOC, 'utf8');
    expect(section(doc)).toBe(section(`${SEARCH_PARAMS_START}\n${generated}\n${SEARCH_PARAMS_END}`));
    for (const [type, params] of Object.entries(hub.searchParams())) {
      expect(doc).toContain(`### ${type}`);
      for (const p of params) expect(doc).toMatch(new RegExp(`\\| \`${p.name}\` +\\| ${p.type} +\\|`));
    }
  });
});
