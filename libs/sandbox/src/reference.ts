/**
 * The synthetic clinic's fixed reference data: the authority that marks every generated
 * identifier, the visit types and their CPT codes, and the lab panels with their LOINC codes,
 * UCUM units and adult reference ranges.
 */

/** Assigning authority of every identifier the sandbox generates (patients, staff, visits). */
export const SANDBOX_AUTHORITY = 'SINEW-SANDBOX';
/** The clinic's name as its messages carry it (MSH-4, MSH-6, locations). */
export const SANDBOX_FACILITY = 'SINEW-SANDBOX CLINIC';
/** Sending application of the simulated practice-management system (ADT, SIU, DFT). */
export const SANDBOX_PMS = 'SANDBOXPMS';
/** Sending application of the simulated laboratory (ORU). */
export const SANDBOX_LAB = 'SANDBOXLAB';

export interface VisitType {
  code: string;
  display: string;
  minutes: number;
  /** CPT evaluation and management code charged for an attended visit of this type. */
  cpt: { code: string; display: string; amount: number };
}

/** Visit types for established patients, with how often each is booked. */
export const ESTABLISHED_VISITS: ReadonlyArray<{ weight: number; value: VisitType }> = [
  {
    weight: 55,
    value: {
      code: 'FOLLOWUP',
      display: 'Follow-up visit',
      minutes: 20,
      cpt: { code: '99213', display: 'Office visit, established patient, low complexity', amount: 125 },
    },
  },
  {
    weight: 25,
    value: {
      code: 'CHRONIC',
      display: 'Chronic care review',
      minutes: 30,
      cpt: { code: '99214', display: 'Office visit, established patient, moderate complexity', amount: 185 },
    },
  },
  {
    weight: 12,
    value: {
      code: 'ACUTE',
      display: 'Same-day acute visit',
      minutes: 20,
      cpt: { code: '99212', display: 'Office visit, established patient, straightforward', amount: 90 },
    },
  },
  {
    weight: 8,
    value: {
      code: 'COMPLEX',
      display: 'Complex care visit',
      minutes: 40,
      cpt: { code: '99215', display: 'Office visit, established patient, high complexity', amount: 250 },
    },
  },
];

/** The visit type of a patient's first appointment with the clinic. */
export const NEW_PATIENT_VISIT: VisitType = {
  code: 'NEWPT',
  display: 'New patient visit',
  minutes: 40,
  cpt: { code: '99203', display: 'Office visit, new patient, low complexity', amount: 175 },
};

/** Venipuncture, charged once per visit that sends blood to the lab. */
export const VENIPUNCTURE = { code: '36415', display: 'Routine venipuncture', amount: 15 };

export interface Analyte {
  loinc: string;
  display: string;
  /** UCUM unit. */
  unit: string;
  /** Decimal places the lab reports. */
  decimals: number;
  /** Normal range; `F`/`M` where it differs by sex. */
  low?: number;
  high?: number;
  byFemale?: { low: number; high: number };
  /**
   * How the range is printed: `a-b`, or `<b` / `>a` for a one-sided limit (a value beyond the
   * limit is flagged).
   */
  form?: 'lt' | 'gt';
  /** Centre and spread of the values drawn (defaults: the middle of the range, a quarter of it). */
  mean?: number;
  sd?: number;
}

export interface LabPanel {
  code: string;
  loinc: string;
  display: string;
  cpt: { code: string; display: string; amount: number };
  analytes: Analyte[];
  /** Share of lab orders that are this panel. */
  weight: number;
}

export const LAB_PANELS: readonly LabPanel[] = [
  {
    code: 'CBC',
    loinc: '58410-2',
    display: 'CBC panel - Blood by Automated count',
    cpt: { code: '85027', display: 'Complete blood count, automated', amount: 28 },
    weight: 30,
    analytes: [
      {
        loinc: '6690-2',
        display: 'Leukocytes [#/volume] in Blood by Automated count',
        unit: '10*3/uL',
        decimals: 1,
        low: 4.5,
        high: 11,
      },
      {
        loinc: '789-8',
        display: 'Erythrocytes [#/volume] in Blood by Automated count',
        unit: '10*6/uL',
        decimals: 2,
        low: 4.5,
        high: 5.9,
        byFemale: { low: 4.1, high: 5.1 },
      },
      {
        loinc: '718-7',
        display: 'Hemoglobin [Mass/volume] in Blood',
        unit: 'g/dL',
        decimals: 1,
        low: 13.5,
        high: 17.5,
        byFemale: { low: 12, high: 15.5 },
      },
      {
        loinc: '4544-3',
        display: 'Hematocrit [Volume Fraction] of Blood by Automated count',
        unit: '%',
        decimals: 1,
        low: 41,
        high: 53,
        byFemale: { low: 36, high: 46 },
      },
      {
        loinc: '787-2',
        display: 'MCV [Entitic volume] by Automated count',
        unit: 'fL',
        decimals: 0,
        low: 80,
        high: 100,
      },
      {
        loinc: '777-3',
        display: 'Platelets [#/volume] in Blood by Automated count',
        unit: '10*3/uL',
        decimals: 0,
        low: 150,
        high: 400,
      },
    ],
  },
  {
    code: 'BMP',
    loinc: '24321-2',
    display: 'Basic metabolic 2000 panel - Serum or Plasma',
    cpt: { code: '80048', display: 'Basic metabolic panel', amount: 36 },
    weight: 30,
    analytes: [
      {
        loinc: '2345-7',
        display: 'Glucose [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        decimals: 0,
        low: 70,
        high: 99,
        mean: 92,
        sd: 12,
      },
      {
        loinc: '3094-0',
        display: 'Urea nitrogen [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        decimals: 0,
        low: 7,
        high: 20,
      },
      {
        loinc: '2160-0',
        display: 'Creatinine [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        decimals: 2,
        low: 0.74,
        high: 1.35,
        byFemale: { low: 0.59, high: 1.04 },
      },
      {
        loinc: '2951-2',
        display: 'Sodium [Moles/volume] in Serum or Plasma',
        unit: 'mmol/L',
        decimals: 0,
        low: 136,
        high: 145,
      },
      {
        loinc: '2823-3',
        display: 'Potassium [Moles/volume] in Serum or Plasma',
        unit: 'mmol/L',
        decimals: 1,
        low: 3.5,
        high: 5.1,
      },
      {
        loinc: '2075-0',
        display: 'Chloride [Moles/volume] in Serum or Plasma',
        unit: 'mmol/L',
        decimals: 0,
        low: 98,
        high: 107,
      },
      {
        loinc: '2028-9',
        display: 'Carbon dioxide, total [Moles/volume] in Serum or Plasma',
        unit: 'mmol/L',
        decimals: 0,
        low: 22,
        high: 29,
      },
      {
        loinc: '17861-6',
        display: 'Calcium [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        decimals: 1,
        low: 8.6,
        high: 10.3,
      },
    ],
  },
  {
    code: 'LIPID',
    loinc: '24331-1',
    display: 'Lipid 1996 panel - Serum or Plasma',
    cpt: { code: '80061', display: 'Lipid panel', amount: 32 },
    weight: 25,
    analytes: [
      {
        loinc: '2093-3',
        display: 'Cholesterol [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        decimals: 0,
        high: 200,
        form: 'lt',
        mean: 190,
        sd: 32,
      },
      {
        loinc: '2571-8',
        display: 'Triglyceride [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        decimals: 0,
        high: 150,
        form: 'lt',
        mean: 130,
        sd: 45,
      },
      {
        loinc: '2085-9',
        display: 'Cholesterol in HDL [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        decimals: 0,
        low: 40,
        form: 'gt',
        mean: 54,
        sd: 13,
      },
      {
        loinc: '13457-7',
        display: 'Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation',
        unit: 'mg/dL',
        decimals: 0,
        high: 100,
        form: 'lt',
        mean: 112,
        sd: 28,
      },
    ],
  },
  {
    code: 'HBA1C',
    loinc: '4548-4',
    display: 'Hemoglobin A1c/Hemoglobin.total in Blood',
    cpt: { code: '83036', display: 'Hemoglobin A1c', amount: 24 },
    weight: 15,
    analytes: [
      {
        loinc: '4548-4',
        display: 'Hemoglobin A1c/Hemoglobin.total in Blood',
        unit: '%',
        decimals: 1,
        low: 4,
        high: 5.6,
        mean: 5.6,
        sd: 0.8,
      },
    ],
  },
];

/** Practitioner specialties of the roster (HL7 table 0286-style role, and a display). */
export const ROSTER_ROLES = [
  { code: 'MD', display: 'Physician' },
  { code: 'MD', display: 'Physician' },
  { code: 'NP', display: 'Nurse practitioner' },
] as const;

/** Reasons a patient gives for cancelling (SCH-6). */
export const CANCEL_REASONS = [
  { code: 'PATCAN', display: 'Cancelled by the patient' },
  { code: 'ILL', display: 'Patient unwell' },
  { code: 'CLINCAN', display: 'Cancelled by the clinic' },
] as const;
