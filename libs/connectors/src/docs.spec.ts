import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DESTINATIONS, SOURCES, connectorDocs } from '@sinew/connectors';

const DOCS = join(__dirname, '../../../docs/reference/connectors.md');

/** The page as committed: connectorDocs() laid out by the repository's prettier settings. */
function renderedPage(): string {
  const prettier = require.resolve('prettier/bin/prettier.cjs');
  return execFileSync(process.execPath, [prettier, '--stdin-filepath', DOCS], {
    input: connectorDocs(),
    encoding: 'utf8',
  });
}

describe('connector reference', () => {
  it('docs/reference/connectors.md is what connectorDocs() renders (npm run docs)', () => {
    const page = renderedPage();
    expect(readFileSync(DOCS, 'utf8')).toBe(page);
  });

  it.each([...Object.values(SOURCES), ...Object.values(DESTINATIONS)])(
    'the $kind $type example is a valid config',
    (definition) => {
      expect(definition.configSchema.safeParse(definition.example).error).toBeUndefined();
    },
  );

  it('lists every field of every connector with its type, default and description', () => {
    const docs = connectorDocs();
    expect(docs).toContain('| `tls.request_cert` | boolean | `false` | Mutual TLS:');
    expect(docs).toContain('| `max_body_bytes` | integer (≥ 1) | `10485760` | Largest request body');
    expect(docs).toContain(
      '| `auth.token_url` | URL, **required** |  | With `type: client_credentials`: Token endpoint. |',
    );
    expect(docs).toMatch(/\| `on_application_error` \| one of `retry`, `fail` \| `retry` \| What an AE\/CE/);
    for (const d of [...Object.values(SOURCES), ...Object.values(DESTINATIONS)]) {
      expect(docs).toContain(`### \`${d.type}\` ${d.kind}`);
      expect(docs).toContain(`type: ${d.type}\n`);
    }
  });
});
