import { z } from 'zod';
import { defineFunction } from './define';

/** Text as base64 of its UTF-8 bytes, for a FHIR Attachment's data (a TX or FT report). */
export const base64 = defineFunction({
  name: 'base64',
  summary: 'Text to base64 (of its UTF-8 bytes), for `Attachment.data`.',
  params: z.strictObject({}),
  examples: [
    { input: 'Normal sinus rhythm.', output: 'Tm9ybWFsIHNpbnVzIHJoeXRobS4=' },
    { input: 'Größe', output: 'R3LDtsOfZQ==' },
  ],
  run(value) {
    return value === '' ? undefined : Buffer.from(value, 'utf8').toString('base64');
  },
});
