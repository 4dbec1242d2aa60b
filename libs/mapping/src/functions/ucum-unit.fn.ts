import { z } from 'zod';
import { defineFunction } from './define';

const UCUM = 'http://unitsofmeasure.org';

/** Common lab units as labs write them → their UCUM code. */
const COMMON: Record<string, string> = {
  'mg/dl': 'mg/dL',
  'g/dl': 'g/dL',
  'mmol/l': 'mmol/L',
  'umol/l': 'umol/L',
  'µmol/l': 'umol/L',
  'meq/l': 'meq/L',
  'u/l': 'U/L',
  'iu/l': '[IU]/L',
  'miu/l': 'm[IU]/L',
  'uiu/ml': 'u[IU]/mL',
  'ng/ml': 'ng/mL',
  'pg/ml': 'pg/mL',
  'mg/l': 'mg/L',
  'g/l': 'g/L',
  fl: 'fL',
  pg: 'pg',
  '%': '%',
  percent: '%',
  'x10e3/ul': '10*3/uL',
  'k/ul': '10*3/uL',
  'x10e6/ul': '10*6/uL',
  'm/ul': '10*6/uL',
  '10*3/ul': '10*3/uL',
  '10*6/ul': '10*6/uL',
  'mm[hg]': 'mm[Hg]',
  mmhg: 'mm[Hg]',
  kg: 'kg',
  g: 'g',
  cm: 'cm',
  m: 'm',
  mm: 'mm',
  l: 'L',
  ml: 'mL',
  sec: 's',
  s: 's',
  min: 'min',
  h: 'h',
  hr: 'h',
  d: 'd',
  day: 'd',
  days: 'd',
  wk: 'wk',
  mo: 'mo',
  a: 'a',
  yr: 'a',
  years: 'a',
  '/min': '/min',
  bpm: '/min',
  cel: 'Cel',
  degc: 'Cel',
  '[degf]': '[degF]',
  degf: '[degF]',
  'kg/m2': 'kg/m2',
  'ml/min/1.73m2': 'mL/min/{1.73_m2}',
  ratio: '{ratio}',
};

/**
 * A lab's unit (OBX-6: `mg/dL`, `mg/dL^^UCUM`, `K/uL`) → `{ unit, system, code }` for a FHIR
 * Quantity. Units with a known UCUM code get system and code; others keep only `unit`.
 */
export const ucumUnit = defineFunction({
  name: 'ucum_unit',
  summary: "A unit as sent (OBX-6) to a FHIR Quantity's unit, system and UCUM code where known.",
  params: z.strictObject({}),
  examples: [
    { input: 'mg/dL', output: { unit: 'mg/dL', system: UCUM, code: 'mg/dL' } },
    { input: 'K/uL', output: { unit: 'K/uL', system: UCUM, code: '10*3/uL' } },
    {
      input: 'mmol/L^millimole per liter^UCUM',
      output: { unit: 'millimole per liter', system: UCUM, code: 'mmol/L' },
    },
    { input: 'furlongs', output: { unit: 'furlongs' } },
  ],
  run(value) {
    const [id = '', text = '', system = ''] = value.split('^');
    if (!id && !text) return undefined;
    const unit = text || id;
    if (system.toUpperCase() === 'UCUM' || system === UCUM) return { unit, system: UCUM, code: id };
    const code = COMMON[id.toLowerCase()];
    return code ? { unit, system: UCUM, code } : { unit };
  },
});
