// Writes the JSON Schemas for editors, generated from the channel, connector, transformer and
// reconciliation declarations: schemas/channel.schema.json, schemas/transformer.schema.json and
// schemas/reconciliation.schema.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generatedFiles, root } from './lib/generated.mjs';

const written = [];
for (const entry of ['libs/channels/test/generated.ts', 'libs/reconcile/test/generated.ts']) {
  for (const [path, text] of await generatedFiles(entry)) {
    if (!path.startsWith('schemas/')) continue;
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
    written.push(path);
  }
}
console.log(`wrote ${written.join(', ')}`);
