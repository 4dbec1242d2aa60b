// Writes the JSON Schemas for editors, generated from the channel, connector and transformer
// declarations: schemas/channel.schema.json and schemas/transformer.schema.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generatedFiles, root } from './lib/generated.mjs';

const written = [];
for (const [path, text] of await generatedFiles()) {
  if (!path.startsWith('schemas/')) continue;
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  written.push(path);
}
console.log(`wrote ${written.join(', ')}`);
