import { z } from 'zod';
import { MappingError, MappingErrorCode } from '../errors';
import { defineFunction } from './define';

export const toNumber = defineFunction({
  name: 'number',
  summary: 'A decimal number from text (`7.2`, `-0.5`, `1e3`); an error for anything else.',
  params: z.strictObject({}),
  examples: [
    { input: '7.2', output: 7.2 },
    { input: ' -0.50 ', output: -0.5 },
    { input: '<5', error: 'map.invalid_number' },
    { input: 'high', error: 'map.invalid_number' },
  ],
  run(value) {
    const t = value.trim();
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
      throw new MappingError(MappingErrorCode.InvalidNumber, `not a number (${t.length} characters)`);
    }
    return Number(t);
  },
});

export const textCase = defineFunction({
  name: 'case',
  summary: 'Changes letter case: `to: upper | lower`.',
  params: z.strictObject({ to: z.enum(['upper', 'lower']) }),
  examples: [
    { input: 'Female', args: { to: 'lower' }, output: 'female' },
    { input: 'ab', args: { to: 'upper' }, output: 'AB' },
  ],
  run(value, args) {
    return args.to === 'upper' ? value.toUpperCase() : value.toLowerCase();
  },
});

/** The first three pieces of `value` split on `^` or `&` (HD.1-3), `''` for absent ones. */
function hdParts(value: string): [string, string, string] {
  const out: [string, string, string] = ['', '', ''];
  let start = 0;
  let k = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c !== 94 /* ^ */ && c !== 38 /* & */) continue;
    out[k++] = value.slice(start, i);
    if (k === 3) return out;
    start = i + 1;
  }
  out[k] = value.slice(start);
  return out;
}

/** HD (or a CX.4 namespace) → a system URI, as the V2-to-FHIR guide's HD[uri] map does. */
export const systemUri = defineFunction({
  name: 'system_uri',
  summary:
    'An identifier system URI from an HL7 HD: `urn:oid:` for ISO ids, `urn:uuid:` for UUIDs, a URI as is, else `prefix` + the namespace id.',
  params: z.strictObject({ prefix: z.string().default('urn:sinew:id:') }),
  examples: [
    { input: 'HOSP^2.16.840.1.113883.19.5^ISO', output: 'urn:oid:2.16.840.1.113883.19.5' },
    { input: 'HOSP&2.16.840.1.113883.19.5&ISO', output: 'urn:oid:2.16.840.1.113883.19.5' },
    {
      input: '^f81d4fae-7dec-11d0-a765-00a0c91e6bf6^UUID',
      output: 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
    },
    { input: 'http://hospital.example/mrn', output: 'http://hospital.example/mrn' },
    { input: 'GOOD HEALTH', output: 'urn:sinew:id:GOOD%20HEALTH' },
    { input: 'MR', args: { prefix: 'https://clinic.example/id/' }, output: 'https://clinic.example/id/MR' },
  ],
  run(value, args) {
    const [ns, uid, type] = hdParts(value);
    const t = type.toUpperCase();
    if (uid && (t === 'ISO' || /^\d+(\.\d+)+$/.test(uid))) return `urn:oid:${uid}`;
    if (uid && t === 'UUID') return `urn:uuid:${uid.toLowerCase()}`;
    if (uid && (t === 'URI' || /^[a-z][a-z0-9+.-]*:/i.test(uid))) return uid;
    if (/^(https?|urn):/i.test(ns)) return ns;
    if (!ns) return undefined;
    return args.prefix + encodeURIComponent(ns);
  },
});
