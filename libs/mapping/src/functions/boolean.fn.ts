import { z } from 'zod';
import { MappingError, MappingErrorCode } from '../errors';
import { defineFunction } from './define';

/** HL7 table 0136 (Y/N) → a FHIR boolean; anything else is an error, never a guess. */
export const yesNo = defineFunction({
  name: 'boolean',
  summary: 'An HL7 yes/no indicator (table 0136: Y, N) to a FHIR boolean; other values are an error.',
  params: z.strictObject({}),
  examples: [
    { input: 'Y', output: true },
    { input: 'n', output: false },
    { input: 'maybe', error: 'map.function' },
  ],
  run(value) {
    const v = value.trim().toUpperCase();
    if (v === 'Y') return true;
    if (v === 'N') return false;
    throw new MappingError(MappingErrorCode.Function, `not a yes/no indicator (expected Y or N)`);
  },
});
