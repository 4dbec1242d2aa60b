/**
 * Synthetic messages for the parse benchmark. Names, numbers and addresses are invented; the
 * shapes follow what hospital ADT feeds and lab result interfaces send.
 */

const CR = '\r';

/** ADT^A01 (admit) of about 1.2 KB: demographics, next of kin, visit, allergies, insurance. */
export function adtA01(): Buffer {
  const segments = [
    'MSH|^~\\&|EPICADT|NORTHGATE^2.16.840.1.113883.3.72.5.20^ISO|SINEW|LAB^2.16.840.1.113883.3.72.5.21^ISO|20260314083015+0100||ADT^A01^ADT_A01|MSG20260314083015482|P|2.5.1|||AL|NE||UNICODE UTF-8',
    'EVN|A01|20260314083000+0100|||JSMITH^Smith^Jane^^^^^^NORTHGATE|20260314082500+0100',
    'PID|1||800123456^^^NORTHGATE^MR~9434765919^^^NHS^NH||Whitaker^Eleanor^Mary^^Mrs^^L||19570622|F|||14 Larkspur Close^Flat 2^Harrowby^Lincolnshire^NG31 9QT^GBR^H||01476 555012^PRN^PH~07700 900123^PRN^CP|||M|CHR|7734521^^^NORTHGATE^AN|||||||||||N',
    'PD1|||Harrowby Surgery^^G84002|G1234567^Okafor^Chidi^^^Dr',
    'NK1|1|Whitaker^Thomas^^^Mr|SPO^Spouse^HL70063|14 Larkspur Close^Flat 2^Harrowby^Lincolnshire^NG31 9QT^GBR|01476 555012||NOK^Next of kin^HL70131',
    'NK1|2|Price^Hannah|DAU^Daughter^HL70063||07700 900456',
    'PV1|1|I|WARD7^B12^2^NORTHGATE||||C3456789^Raman^Priya^^^Dr|||MED||||ADM|||C3456789^Raman^Priya^^^Dr|INP|2026031400731^^^NORTHGATE^VN|||||||||||||||||||NORTHGATE||ADM|||20260314080000+0100',
    'PV2|||^Chest pain, suspected ACS||||||20260317',
    'AL1|1|DA|^Penicillin^LOCAL|SV|Anaphylaxis',
    'AL1|2|FA|^Peanut^LOCAL|MO|Urticaria',
    'DG1|1||I20.0^Unstable angina^I10|||A',
    'IN1|1|NHS|NHS^^^NHS|NHS England||||||||||||Whitaker^Eleanor^Mary|SEL|19570622',
  ];
  return Buffer.from(segments.join(CR) + CR, 'utf8');
}

const ANALYTES: Array<[code: string, name: string, unit: string, low: number, high: number]> = [
  ['2951-2', 'Sodium', 'mmol/L', 133, 146],
  ['2823-3', 'Potassium', 'mmol/L', 3.5, 5.3],
  ['2075-0', 'Chloride', 'mmol/L', 95, 108],
  ['1963-8', 'Bicarbonate', 'mmol/L', 22, 29],
  ['3094-0', 'Urea', 'mmol/L', 2.5, 7.8],
  ['2160-0', 'Creatinine', 'umol/L', 45, 84],
  ['2345-7', 'Glucose', 'mmol/L', 3.9, 7.8],
  ['17861-6', 'Calcium', 'mmol/L', 2.2, 2.6],
  ['2777-1', 'Phosphate', 'mmol/L', 0.8, 1.5],
  ['19123-9', 'Magnesium', 'mmol/L', 0.7, 1.0],
];

/** ORU^R01 (lab result) of about 8 KB: one order with 50 numeric OBX. */
export function oruR01(): Buffer {
  const segments = [
    'MSH|^~\\&|WINPATH|NORTHGATE_LAB|SINEW|NORTHGATE|20260314101500+0100||ORU^R01^ORU_R01|LAB20260314101500007|P|2.5.1|||AL|NE||UNICODE UTF-8',
    'PID|1||800123456^^^NORTHGATE^MR~9434765919^^^NHS^NH||Whitaker^Eleanor^Mary^^Mrs^^L||19570622|F|||14 Larkspur Close^Flat 2^Harrowby^Lincolnshire^NG31 9QT^GBR^H',
    'PV1|1|I|WARD7^B12^2^NORTHGATE||||C3456789^Raman^Priya^^^Dr|||MED||||||||INP|2026031400731^^^NORTHGATE^VN',
    'ORC|RE|ORD448120^EPIC|LAB7781203^WINPATH||CM||||20260314090000+0100|||C3456789^Raman^Priya^^^Dr',
    'OBR|1|ORD448120^EPIC|LAB7781203^WINPATH|24323-8^Comprehensive metabolic panel^LN|||20260314090500+0100|||||||20260314091000+0100|BLD^Blood venous|C3456789^Raman^Priya^^^Dr||||||20260314101400+0100||CH|F',
  ];
  for (let i = 1; i <= 50; i++) {
    const [code, name, unit, low, high] = ANALYTES[(i - 1) % ANALYTES.length] as (typeof ANALYTES)[number];
    const value = (low + ((high - low) * ((i * 37) % 100)) / 80).toFixed(low < 10 ? 2 : 0);
    const flag = Number(value) > high ? 'H' : Number(value) < low ? 'L' : 'N';
    segments.push(
      `OBX|${i}|NM|${code}^${name}^LN^${100 + i}^${name}^L||${value}|${unit}^${unit}^UCUM|${low}-${high}|${flag}|||F|||20260314090500+0100|NGLAB^Northgate Laboratory||||20260314101400`,
    );
  }
  return Buffer.from(segments.join(CR) + CR, 'utf8');
}

/** ORU^R01 with one OBX whose OBX-5 (ED) carries about 100 KB of base64, as a PDF report would. */
export function oruWithDocument(size = 100 * 1024): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let seed = 7;
  let data = '';
  for (let i = 0; i < size; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    data += alphabet[seed % 64];
  }
  const segments = [
    'MSH|^~\\&|RIS|NORTHGATE|SINEW|NORTHGATE|20260314101500+0100||ORU^R01^ORU_R01|RAD20260314101500031|P|2.5.1',
    'PID|1||800123456^^^NORTHGATE^MR||Whitaker^Eleanor^Mary^^Mrs^^L||19570622|F',
    'OBR|1|ORD448121^EPIC|RAD5520117^RIS|71020^Chest X-ray^CPT|||20260314093000+0100',
    `OBX|1|ED|PDF^Report^L||^application^pdf^Base64^${data}||||||F`,
  ];
  return Buffer.from(segments.join(CR) + CR, 'utf8');
}
