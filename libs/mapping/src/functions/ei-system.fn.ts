import { z } from 'zod';
import { defineFunction } from './define';
import { hdSystem, IDENTIFIER_SYSTEMS } from './text.fn';

/** EI.2-4 (namespace, universal id, its type) read as an HD, as `system_uri` reads CX.4. */
export const eiSystem = defineFunction({
  name: 'ei_system',
  summary:
    'The identifier system of an entity identifier (EI): EI.2-4 read as an assigning authority, as `system_uri` does.',
  params: z.strictObject({ prefix: z.string().default('urn:sinew:id:') }),
  vocabulary: IDENTIFIER_SYSTEMS,
  examples: [
    { input: 'DI20^Diagnosis^1.3.6.1.4.1.44750.1.2.2^CLIP', output: 'urn:oid:1.3.6.1.4.1.44750.1.2.2' },
    { input: '77^PLACER', output: 'urn:sinew:id:PLACER' },
    { input: '77^^http://lab.example/orders^URI', output: 'http://lab.example/orders' },
    { input: '77' },
  ],
  run(value, args, vocabulary) {
    const hd = value.split('^').slice(1, 4).join('^').replace(/\^+$/, '');
    return hd ? hdSystem(hd, args.prefix, vocabulary) : undefined;
  },
});
