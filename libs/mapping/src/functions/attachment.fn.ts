import { z } from 'zod';
import { MappingError, MappingErrorCode } from '../errors';
import { defineFunction } from './define';

/** MIME top-level types: an ED.2 that is one of these pairs with ED.3 as the subtype. */
const MIME_TYPES = new Set(['application', 'audio', 'image', 'model', 'multipart', 'text', 'video']);

/** ED.3 subtypes (HL7 table 0291 and common values) with their full MIME type. */
const SUBTYPES: Record<string, string> = {
  pdf: 'application/pdf',
  rtf: 'application/rtf',
  'octet-stream': 'application/octet-stream',
  xml: 'application/xml',
  'x-hl7-cda-level-one': 'application/x-hl7-cda-level-one+xml',
  dicom: 'application/dicom',
  html: 'text/html',
  plain: 'text/plain',
  jpeg: 'image/jpeg',
  jpg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  tiff: 'image/tiff',
  bmp: 'image/bmp',
};

/** ED.2 type of data (HL7 table 0191) → MIME top-level type for an ED.3 not listed above. */
const DATA_TYPES: Record<string, string> = { im: 'image', au: 'audio', text: 'text', tx: 'text' };

function contentTypeOf(type: string, subtype: string): string | undefined {
  const t = type.trim().toLowerCase();
  const s = subtype.trim().toLowerCase();
  if (MIME_TYPES.has(t) && s) return `${t}/${s}`;
  if (SUBTYPES[s]) return SUBTYPES[s];
  if (!s) return t === 'text' || t === 'tx' ? 'text/plain' : undefined;
  return `${DATA_TYPES[t] ?? 'application'}/${s}`;
}

function bad(message: string): never {
  throw new MappingError(MappingErrorCode.Function, message);
}

/**
 * HL7 ED (source^type of data^data subtype^encoding^data) → a FHIR Attachment: a MIME
 * contentType from ED.2/ED.3, and base64 data from ED.5 in its ED.4 encoding (Base64, Hex, or
 * A for plain text).
 */
export const attachment = defineFunction({
  name: 'attachment',
  summary:
    'An HL7 ED to a FHIR Attachment: contentType from ED.2/ED.3 (`application^pdf`, `IM^JPEG`), data as base64 from ED.5 by ED.4 (Base64, Hex, A).',
  params: z.strictObject({}),
  examples: [
    {
      input: 'LAB^application^pdf^Base64^JVBERi0xLjQK',
      output: { contentType: 'application/pdf', data: 'JVBERi0xLjQK' },
    },
    { input: '^IM^JPEG^Hex^FFD8FF', output: { contentType: 'image/jpeg', data: '/9j/' } },
    { input: '^TEXT^^A^Normal study.', output: { contentType: 'text/plain', data: 'Tm9ybWFsIHN0dWR5Lg==' } },
    { input: 'App5^NS^Octet-stream^Base64', output: { contentType: 'application/octet-stream' } },
    { input: '^AP^pdf^Base64^not base64!', error: 'map.function' },
    { input: '^AP^pdf^Hex^XYZ', error: 'map.function' },
  ],
  run(value) {
    const [, type = '', subtype = '', encoding = '', ...rest] = value.split('^');
    const raw = rest.join('^');
    const out: { contentType?: string; data?: string } = {};
    const contentType = contentTypeOf(type, subtype);
    if (contentType) out.contentType = contentType;
    const enc = encoding.trim().toLowerCase();
    if (raw !== '') {
      if (enc === 'base64') {
        const data = raw.replace(/\s+/g, '');
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 === 1)
          bad('ED.5 is not base64 although ED.4 says Base64');
        out.data = data;
      } else if (enc === 'hex') {
        const hex = raw.replace(/\s+/g, '');
        if (!/^([0-9A-Fa-f]{2})*$/.test(hex)) bad('ED.5 is not hexadecimal although ED.4 says Hex');
        out.data = Buffer.from(hex, 'hex').toString('base64');
      } else out.data = Buffer.from(raw, 'utf8').toString('base64');
    }
    return Object.keys(out).length ? out : undefined;
  },
});
