import { z } from 'zod';
import { defineFunction } from './define';

/** The OID or UUID in a `urn:oid:` / `urn:uuid:` system, for HD.2. */
export const universalIdFromUri = defineFunction({
  name: 'universal_id',
  summary: 'The id in a `urn:oid:` or `urn:uuid:` system URI (HD.2); no value for other URIs.',
  params: z.strictObject({}),
  examples: [
    { input: 'urn:oid:2.16.840.1.113883.19.5', output: '2.16.840.1.113883.19.5' },
    {
      input: 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
      output: 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
    },
    { input: 'http://hospital.example/mrn' },
  ],
  run(value) {
    const m = /^urn:(oid|uuid):(.+)$/i.exec(value.trim());
    return m ? m[2] : undefined;
  },
});

/** HD.3 for a system URI: ISO for OIDs, UUID for UUIDs, URI for other URLs. */
export const universalIdTypeFromUri = defineFunction({
  name: 'universal_id_type',
  summary: 'HD.3 for a system URI: `ISO` (urn:oid:), `UUID` (urn:uuid:); no value otherwise.',
  params: z.strictObject({}),
  examples: [
    { input: 'urn:oid:1.2.3', output: 'ISO' },
    { input: 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6', output: 'UUID' },
    { input: 'urn:sinew:id:MRN' },
  ],
  run(value) {
    const m = /^urn:(oid|uuid):/i.exec(value.trim());
    if (!m) return undefined;
    return (m[1] as string).toLowerCase() === 'oid' ? 'ISO' : 'UUID';
  },
});

/** HD.1 (namespace id) for a system URI written by `system_uri` with its prefix. */
export const namespaceFromUri = defineFunction({
  name: 'namespace_id',
  summary:
    'HD.1 for a system URI: the name after `prefix` (as `system_uri` writes it), else the URI itself unless it is an OID/UUID.',
  params: z.strictObject({ prefix: z.string().default('urn:sinew:id:') }),
  examples: [
    { input: 'urn:sinew:id:GOOD%20HEALTH', output: 'GOOD HEALTH' },
    { input: 'http://hospital.example/mrn', output: 'http://hospital.example/mrn' },
    { input: 'urn:oid:1.2.3' },
  ],
  run(value, args) {
    const v = value.trim();
    if (v.startsWith(args.prefix)) return decodeURIComponent(v.slice(args.prefix.length));
    if (/^urn:(oid|uuid):/i.test(v)) return undefined;
    return v;
  },
});
