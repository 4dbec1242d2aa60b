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

/** An ISO object identifier, dotted numbers (`urn:oid:` + this is a URI). */
const OID = /^\d+(\.\d+)+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** An absolute URI: a scheme, then no spaces (`http://…`, `urn:…`, `mailto:…`). */
const ABSOLUTE_URI = /^[a-z][a-z0-9+.-]*:[^\s]+$/i;

/** The name of the vocabulary that gives a site's identifier systems: name → URI. */
export const IDENTIFIER_SYSTEMS = 'IdentifierSystems';

/**
 * An identifier system URI from an HD (namespace ^ universal id ^ its type), as the
 * V2-to-FHIR guide's HD[uri] map: an OID (`urn:oid:`), a UUID (`urn:uuid:`), a URI as sent;
 * else the name through the site's `IdentifierSystems` vocabulary; else `prefix` + the name,
 * percent-encoded, which is a URI too. Never anything that is not an absolute URI.
 */
export function hdSystem(
  value: string,
  prefix: string,
  systems?: (name: string) => { code: string } | undefined,
): string | undefined {
  const [ns, rawUid, type] = hdParts(value);
  const uid = rawUid.trim();
  const name = ns.trim();
  const t = type.trim().toUpperCase();
  if (uid) {
    if (OID.test(uid)) return `urn:oid:${uid}`;
    if (/^urn:oid:/i.test(uid) && OID.test(uid.slice(8))) return `urn:oid:${uid.slice(8)}`;
    if (UUID.test(uid)) return `urn:uuid:${uid.toLowerCase()}`;
    if (/^urn:uuid:/i.test(uid) && UUID.test(uid.slice(9))) return `urn:uuid:${uid.slice(9).toLowerCase()}`;
    if (ABSOLUTE_URI.test(uid) && t !== 'ISO' && t !== 'UUID') return uid;
  }
  if (ABSOLUTE_URI.test(name) && /^(https?|urn):/i.test(name)) return name;
  // A name: the namespace id, else a universal id that is none of the above (an L, DNS … id).
  const key = name || uid;
  if (!key) return undefined;
  const mapped = systems?.(key)?.code;
  if (mapped !== undefined && ABSOLUTE_URI.test(mapped)) return mapped;
  return prefix + encodeURIComponent(key);
}

/** HD (or a CX.4 namespace) → a system URI, as the V2-to-FHIR guide's HD[uri] map does. */
export const systemUri = defineFunction({
  name: 'system_uri',
  summary:
    'An identifier system URI from an HL7 HD: `urn:oid:` for OIDs, `urn:uuid:` for UUIDs, a URI as is; else the namespace id through the `IdentifierSystems` vocabulary when a transformer folder has one; else `prefix` + the namespace id, percent-encoded. Always an absolute URI.',
  params: z.strictObject({ prefix: z.string().default('urn:sinew:id:') }),
  vocabulary: IDENTIFIER_SYSTEMS,
  examples: [
    { input: 'HOSP^2.16.840.1.113883.19.5^ISO', output: 'urn:oid:2.16.840.1.113883.19.5' },
    { input: 'HOSP&2.16.840.1.113883.19.5&ISO', output: 'urn:oid:2.16.840.1.113883.19.5' },
    {
      input: '^f81d4fae-7dec-11d0-a765-00a0c91e6bf6^UUID',
      output: 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
    },
    { input: 'http://hospital.example/mrn', output: 'http://hospital.example/mrn' },
    { input: 'GOOD HEALTH', output: 'urn:sinew:id:GOOD%20HEALTH' },
    {
      input: 'GOODHEALTH',
      vocabulary: { GOODHEALTH: 'https://goodhealth.example/mrn' },
      output: 'https://goodhealth.example/mrn',
    },
    { input: '^hospital^URI', output: 'urn:sinew:id:hospital' },
    { input: '^LAB-7^L', output: 'urn:sinew:id:LAB-7' },
    { input: 'MR', args: { prefix: 'https://clinic.example/id/' }, output: 'https://clinic.example/id/MR' },
  ],
  run(value, args, vocabulary) {
    return hdSystem(value, args.prefix, vocabulary);
  },
});
