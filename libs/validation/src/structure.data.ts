/**
 * The HL7 v2 abstract message syntax of the message structures Sinew maps, per version, as
 * data. Each structure lists `[first version, structure]` pairs: a version uses the last entry
 * at or below it. Entries from 2.3 to 2.5.1 follow the standard's chapters; the `2.6` entry
 * stands for 2.6 to 2.9 and is their union (later versions mostly add optional segments: ARV,
 * PRT, UAC, OH1–OH4, IAM, ORDER_DOCUMENT), so it accepts every one of them and may accept a
 * segment a given later version does not define. Group names are the standard's.
 */
export const STRUCTURES: Readonly<Record<string, ReadonlyArray<readonly [string, string]>>> = {
  ADT_A01: [
    [
      '2.3',
      'MSH EVN PID [PD1] [{NK1}] PV1 [PV2] [{DB1}] [{OBX}] [{AL1}] [{DG1}] [DRG] [{PROCEDURE: PR1 [{ROL}]}] [{GT1}] [{INSURANCE: IN1 [IN2] [IN3]}] [ACC] [UB1] [UB2]',
    ],
    [
      '2.3.1',
      'MSH EVN PID [PD1] [{NK1}] PV1 [PV2] [{DB1}] [{OBX}] [{AL1}] [{DG1}] [DRG] [{PROCEDURE: PR1 [{ROL}]}] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}]}] [ACC] [UB1] [UB2]',
    ],
    [
      '2.4',
      'MSH EVN PID [PD1] [{ROL}] [{NK1}] PV1 [PV2] [{ROL}] [{DB1}] [{OBX}] [{AL1}] [{DG1}] [DRG] [{PROCEDURE: PR1 [{ROL}]}] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}] [{ROL}]}] [ACC] [UB1] [UB2] [PDA]',
    ],
    [
      '2.5',
      'MSH [{SFT}] EVN PID [PD1] [{ROL}] [{NK1}] PV1 [PV2] [{ROL}] [{DB1}] [{OBX}] [{AL1}] [{DG1}] [DRG] [{PROCEDURE: PR1 [{ROL}]}] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}] [{ROL}]}] [ACC] [UB1] [UB2] [PDA]',
    ],
    [
      '2.6',
      'MSH [{ARV}] [{SFT}] [UAC] EVN PID [PD1] [{OH1}] [{OH2}] [OH3] [{OH4}] [{ARV}] [{ROL}] [{PRT}] [{NEXT_OF_KIN: NK1 [{OH2}] [OH3]}] PV1 [PV2] [{ARV}] [{ROL}] [{PRT}] [{DB1}] [{OBSERVATION: OBX [{PRT}]}] [{AL1}] [{IAM}] [{DG1}] [DRG] [{PROCEDURE: PR1 [{ROL}] [{PRT}]}] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}] [{ROL}] [{PRT}] [{AUTHORIZATION: AUT [{PRT}]}] [{REFERRAL: RF1 [{PRT}]}]}] [ACC] [UB1] [UB2] [PDA]',
    ],
  ],
  ADT_A03: [
    ['2.3', 'MSH EVN PID [PD1] PV1 [PV2] [{DB1}] [{DG1}] [DRG] [{PROCEDURE: PR1 [{ROL}]}] [{OBX}]'],
    [
      '2.4',
      'MSH EVN PID [PD1] [{ROL}] PV1 [PV2] [{ROL}] [{DB1}] [{DG1}] [DRG] [{PROCEDURE: PR1 [{ROL}]}] [{OBX}] [PDA]',
    ],
    [
      '2.5',
      'MSH [{SFT}] EVN PID [PD1] [{ROL}] [{NK1}] PV1 [PV2] [{ROL}] [{DB1}] [{AL1}] [{DG1}] [DRG] [{PROCEDURE: PR1 [{ROL}]}] [{OBX}] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}] [{ROL}]}] [ACC] [PDA]',
    ],
    [
      '2.6',
      'MSH [{ARV}] [{SFT}] [UAC] EVN PID [PD1] [{ARV}] [{ROL}] [{PRT}] [{NK1}] PV1 [PV2] [{ARV}] [{ROL}] [{PRT}] [{DB1}] [{AL1}] [{DG1}] [DRG] [{PROCEDURE: PR1 [{ROL}] [{PRT}]}] [{OBSERVATION: OBX [{PRT}]}] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}] [{ROL}] [{PRT}] [{AUTHORIZATION: AUT [{PRT}]}] [{REFERRAL: RF1 [{PRT}]}]}] [ACC] [PDA]',
    ],
  ],
  ADT_A09: [
    ['2.3', 'MSH EVN PID [PD1] PV1 [PV2] [{DB1}] [{OBX}] [{DG1}]'],
    ['2.5', 'MSH [{SFT}] EVN PID [PD1] PV1 [PV2] [{DB1}] [{OBX}] [{DG1}]'],
    [
      '2.6',
      'MSH [{ARV}] [{SFT}] [UAC] EVN PID [PD1] [{ARV}] PV1 [PV2] [{ARV}] [{DB1}] [{OBSERVATION: OBX [{PRT}]}] [{DG1}]',
    ],
  ],
  ADT_A39: [
    ['2.3', 'MSH EVN {PATIENT: PID [PD1] MRG [PV1]}'],
    ['2.5', 'MSH [{SFT}] EVN {PATIENT: PID [PD1] MRG [PV1]}'],
    ['2.6', 'MSH [{ARV}] [{SFT}] [UAC] EVN {PATIENT: PID [PD1] [{ARV}] MRG [PV1] [{ARV}]}'],
  ],
  ORU_R01: [
    [
      '2.3',
      'MSH {PATIENT_RESULT: [PATIENT: PID [PD1] [{NTE}] [VISIT: PV1 [PV2]]] {ORDER_OBSERVATION: [ORC] OBR [{NTE}] {OBSERVATION: [OBX] [{NTE}]} [{CTI}]}} [DSC]',
    ],
    [
      '2.3.1',
      'MSH {PATIENT_RESULT: [PATIENT: PID [PD1] [{NK1}] [{NTE}] [VISIT: PV1 [PV2]]] {ORDER_OBSERVATION: [ORC] OBR [{NTE}] {OBSERVATION: [OBX] [{NTE}]} [{CTI}]}} [DSC]',
    ],
    [
      '2.4',
      'MSH {PATIENT_RESULT: [PATIENT: PID [PD1] [{NK1}] [{NTE}] [VISIT: PV1 [PV2]]] {ORDER_OBSERVATION: [ORC] OBR [{NTE}] [CTD] {OBSERVATION: [OBX] [{NTE}]} [{FT1}] [{CTI}]}} [DSC]',
    ],
    [
      '2.5',
      'MSH [{SFT}] {PATIENT_RESULT: [PATIENT: PID [PD1] [{NTE}] [{NK1}] [VISIT: PV1 [PV2]]] {ORDER_OBSERVATION: [ORC] OBR [{NTE}] [{TIMING_QTY: TQ1 [{TQ2}]}] [CTD] [{OBSERVATION: OBX [{NTE}]}] [{FT1}] [{CTI}] [{SPECIMEN: SPM [{OBX}]}]}} [DSC]',
    ],
    [
      '2.6',
      'MSH [{SFT}] [UAC] {PATIENT_RESULT: [PATIENT: PID [PD1] [{PRT}] [{NTE}] [{NK1}] [{ARV}] [{PATIENT_OBSERVATION: OBX [{PRT}]}] [VISIT: PV1 [PV2] [{PRT}]]] {ORDER_OBSERVATION: [COMMON_ORDER: ORC [{PRT}] [ORDER_DOCUMENT: OBX [{PRT}] TXA]] OBR [{NTE}] [{ROL}] [{PRT}] [{TIMING_QTY: TQ1 [{TQ2}]}] [CTD] [{OBSERVATION: OBX [{PRT}] [{NTE}]}] [{FT1}] [{CTI}] [{SPECIMEN: SPM [{SPECIMEN_OBSERVATION: OBX [{PRT}]}]}]}} [DSC]',
    ],
  ],
  SIU_S12: [
    [
      '2.3',
      'MSH SCH [{NTE}] [{PATIENT: PID [PV1] [PV2] [{OBX}] [{DG1}]}] {RESOURCES: RGS [{SERVICE: AIS [{NTE}]}] [{GENERAL_RESOURCE: AIG [{NTE}]}] [{LOCATION_RESOURCE: AIL [{NTE}]}] [{PERSONNEL_RESOURCE: AIP [{NTE}]}]}',
    ],
    [
      '2.3.1',
      'MSH SCH [{NTE}] [{PATIENT: PID [PD1] [PV1] [PV2] [{OBX}] [{DG1}]}] {RESOURCES: RGS [{SERVICE: AIS [{NTE}]}] [{GENERAL_RESOURCE: AIG [{NTE}]}] [{LOCATION_RESOURCE: AIL [{NTE}]}] [{PERSONNEL_RESOURCE: AIP [{NTE}]}]}',
    ],
    [
      '2.5',
      'MSH [{SFT}] SCH [{TQ1}] [{NTE}] [{PATIENT: PID [PD1] [PV1] [PV2] [{OBX}] [{DG1}]}] {RESOURCES: RGS [{SERVICE: AIS [{NTE}]}] [{GENERAL_RESOURCE: AIG [{NTE}]}] [{LOCATION_RESOURCE: AIL [{NTE}]}] [{PERSONNEL_RESOURCE: AIP [{NTE}]}]}',
    ],
    [
      '2.6',
      'MSH [{SFT}] [UAC] SCH [{TQ1}] [{NTE}] [{PATIENT: PID [PD1] [{ARV}] [PV1] [PV2] [{ARV}] [{OBX}] [{DG1}]}] {RESOURCES: RGS [{SERVICE: AIS [{NTE}]}] [{GENERAL_RESOURCE: AIG [{NTE}]}] [{LOCATION_RESOURCE: AIL [{NTE}]}] [{PERSONNEL_RESOURCE: AIP [{NTE}]}]}',
    ],
  ],
  DFT_P03: [
    [
      '2.3',
      'MSH EVN PID [PD1] [PV1] [PV2] [{DB1}] [{OBX}] {FINANCIAL: FT1 [{FINANCIAL_PROCEDURE: PR1 [{ROL}]}]} [{DG1}] [DRG] [{GT1}] [{INSURANCE: IN1 [IN2] [IN3]}] [ACC]',
    ],
    [
      '2.3.1',
      'MSH EVN PID [PD1] [PV1] [PV2] [{DB1}] [{OBX}] {FINANCIAL: FT1 [{FINANCIAL_PROCEDURE: PR1 [{ROL}]}]} [{DG1}] [DRG] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}]}] [ACC]',
    ],
    [
      '2.4',
      'MSH EVN PID [PD1] [{ROL}] [PV1] [PV2] [{ROL}] [{DB1}] [{COMMON_ORDER: [ORC] [ORDER: OBR [{NTE}]] [{OBSERVATION: OBX [{NTE}]}]}] {FINANCIAL: FT1 [{FINANCIAL_PROCEDURE: PR1 [{ROL}]}] [{FINANCIAL_COMMON_ORDER: [ORC] [FINANCIAL_ORDER: OBR [{NTE}]] [{FINANCIAL_OBSERVATION: OBX [{NTE}]}]}]} [{DG1}] [DRG] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}] [{ROL}]}] [ACC]',
    ],
    [
      '2.5',
      'MSH [{SFT}] EVN PID [PD1] [{ROL}] [PV1] [PV2] [{ROL}] [{DB1}] [{COMMON_ORDER: [ORC] [{TIMING_QUANTITY: TQ1 [{TQ2}]}] [ORDER: OBR [{NTE}]] [{OBSERVATION: OBX [{NTE}]}]}] {FINANCIAL: FT1 [NTE] [{FINANCIAL_PROCEDURE: PR1 [{ROL}]}] [{FINANCIAL_COMMON_ORDER: [ORC] [{FINANCIAL_TIMING_QUANTITY: TQ1 [{TQ2}]}] [FINANCIAL_ORDER: OBR [{NTE}]] [{FINANCIAL_OBSERVATION: OBX [{NTE}]}]}]} [{DG1}] [DRG] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}] [{ROL}]}] [ACC]',
    ],
    [
      '2.6',
      'MSH [{SFT}] [UAC] EVN PID [PD1] [{PRT}] [{ROL}] [PV1] [PV2] [{PRT}] [{ROL}] [{DB1}] [{COMMON_ORDER: [ORC [{PRT}]] [{TIMING_QUANTITY: TQ1 [{TQ2}]}] [ORDER: OBR [{NTE}] [{PRT}]] [{OBSERVATION: OBX [{PRT}] [{NTE}]}]}] {FINANCIAL: FT1 [{NTE}] [{PRT}] [{ROL}] [{FINANCIAL_PROCEDURE: PR1 [{NTE}] [{PRT}] [{ROL}]}] [{FINANCIAL_COMMON_ORDER: [ORC [{PRT}]] [{FINANCIAL_TIMING_QUANTITY: TQ1 [{TQ2}]}] [FINANCIAL_ORDER: OBR [{NTE}] [{PRT}]] [{FINANCIAL_OBSERVATION: OBX [{PRT}] [{NTE}]}]}]} [{DG1}] [DRG] [{GT1}] [{INSURANCE: IN1 [IN2] [{IN3}] [{ROL}]}] [ACC]',
    ],
  ],
  ORM_O01: [
    [
      '2.3',
      'MSH [{NTE}] [PATIENT: PID [PD1] [{NTE}] [PATIENT_VISIT: PV1 [PV2]] [{INSURANCE: IN1 [IN2] [IN3]}] [GT1] [{AL1}]] {ORDER: ORC [ORDER_DETAIL: <OBR | RQD | RQ1 | RXO | ODS | ODT> [{NTE}] [{DG1}] [{OBSERVATION: OBX [{NTE}]}]] [CTI] [BLG]}',
    ],
    [
      '2.3.1',
      'MSH [{NTE}] [PATIENT: PID [PD1] [{NTE}] [PATIENT_VISIT: PV1 [PV2]] [{INSURANCE: IN1 [IN2] [{IN3}]}] [GT1] [{AL1}]] {ORDER: ORC [ORDER_DETAIL: <OBR | RQD | RQ1 | RXO | ODS | ODT> [{NTE}] [{DG1}] [{OBSERVATION: OBX [{NTE}]}]] [{CTI}] [BLG]}',
    ],
    [
      '2.4',
      'MSH [{NTE}] [PATIENT: PID [PD1] [{NTE}] [PATIENT_VISIT: PV1 [PV2]] [{INSURANCE: IN1 [IN2] [IN3]}] [GT1] [{AL1}]] {ORDER: ORC [ORDER_DETAIL: <OBR | RQD | RQ1 | RXO | ODS | ODT> [{NTE}] [CTD] [{DG1}] [{OBSERVATION: OBX [{NTE}]}]] [{FT1}] [{CTI}] [BLG]}',
    ],
  ],
  MDM_T02: [
    ['2.3', 'MSH EVN PID PV1 TXA {OBX}'],
    [
      '2.5',
      'MSH [{SFT}] EVN PID PV1 [{COMMON_ORDER: ORC [{TIMING: TQ1 [{TQ2}]}] OBR [{NTE}]}] TXA {OBSERVATION: OBX [{NTE}]}',
    ],
    [
      '2.6',
      'MSH [{SFT}] [UAC] EVN PID [{PRT}] PV1 [{PRT}] [{COMMON_ORDER: ORC [{PRT}] [{TIMING: TQ1 [{TQ2}]}] OBR [{PRT}] [{NTE}]}] TXA [{CON}] {OBSERVATION: OBX [{PRT}] [{NTE}]}',
    ],
  ],
  VXU_V04: [
    [
      '2.3',
      'MSH PID [PD1] [{NK1}] [PATIENT: PV1 [PV2]] [{INSURANCE: IN1 [IN2] [IN3]}] [{ORDER: [ORC] RXA [RXR] [{OBSERVATION: OBX [{NTE}]}]}]',
    ],
    [
      '2.4',
      'MSH PID [PD1] [{NK1}] [PATIENT: PV1 [PV2]] [{GT1}] [{INSURANCE: IN1 [IN2] [IN3]}] [{ORDER: [ORC] RXA [RXR] [{OBSERVATION: OBX [{NTE}]}]}]',
    ],
    [
      '2.5',
      'MSH [{SFT}] PID [PD1] [{NK1}] [PATIENT: PV1 [PV2]] [{GT1}] [{INSURANCE: IN1 [IN2] [IN3]}] [{ORDER: ORC [{TIMING: TQ1 [{TQ2}]}] RXA [RXR] [{OBSERVATION: OBX [{NTE}]}]}]',
    ],
    [
      '2.6',
      'MSH [{SFT}] [UAC] PID [PD1] [{NK1}] [{ARV}] [PATIENT_VISIT: PV1 [PV2] [{ARV}]] [{GT1}] [{INSURANCE: IN1 [IN2] [IN3]}] [{PERSON_OBSERVATION: OBX [{PRT}] [{NTE}]}] [{ORDER: ORC [{PRT}] [{TIMING: TQ1 [{TQ2}]}] RXA [RXR] [{OBSERVATION: OBX [{PRT}] [{NTE}]}]}]',
    ],
  ],
  ACK: [
    ['2.3', 'MSH MSA [ERR]'],
    ['2.5', 'MSH [{SFT}] MSA [{ERR}]'],
    ['2.6', 'MSH [{SFT}] [UAC] MSA [{ERR}]'],
  ],
};

/**
 * Trigger events → message structure (HL7 table 0354), for the message types Sinew maps. Used
 * when MSH-9.3 is empty or names a structure Sinew does not define. `ACK` replies use `ACK`
 * whatever their event.
 */
export const EVENT_STRUCTURES: Readonly<Record<string, string>> = {
  'ADT^A01': 'ADT_A01',
  'ADT^A04': 'ADT_A01',
  'ADT^A08': 'ADT_A01',
  'ADT^A13': 'ADT_A01',
  'ADT^A03': 'ADT_A03',
  'ADT^A09': 'ADT_A09',
  'ADT^A10': 'ADT_A09',
  'ADT^A11': 'ADT_A09',
  'ADT^A39': 'ADT_A39',
  'ADT^A40': 'ADT_A39',
  'ADT^A41': 'ADT_A39',
  'ADT^A42': 'ADT_A39',
  'ORU^R01': 'ORU_R01',
  'SIU^S12': 'SIU_S12',
  'SIU^S13': 'SIU_S12',
  'SIU^S14': 'SIU_S12',
  'SIU^S15': 'SIU_S12',
  'SIU^S16': 'SIU_S12',
  'SIU^S17': 'SIU_S12',
  'SIU^S26': 'SIU_S12',
  'DFT^P03': 'DFT_P03',
  'ORM^O01': 'ORM_O01',
  'MDM^T02': 'MDM_T02',
  'MDM^T04': 'MDM_T02',
  'MDM^T06': 'MDM_T02',
  'MDM^T08': 'MDM_T02',
  'MDM^T10': 'MDM_T02',
  'VXU^V04': 'VXU_V04',
};

/**
 * Fields the standard marks required (R), per segment, as `[first version, fields]` pairs (a
 * version uses the last entry at or below it; an empty list means none). MSH-1 and MSH-2 are
 * left out: a message that parses has them.
 */
export const REQUIRED_FIELDS: Readonly<Record<string, ReadonlyArray<readonly [string, readonly number[]]>>> =
  {
    MSH: [
      ['2.3', [9, 10, 11, 12]],
      ['2.4', [7, 9, 10, 11, 12]],
    ],
    SFT: [['2.5', [1, 2, 3, 4]]],
    UAC: [['2.6', [1, 2]]],
    EVN: [
      ['2.3', [1, 2]],
      ['2.3.1', [2]],
    ],
    PID: [['2.3', [3, 5]]],
    NK1: [['2.3', [1]]],
    PV1: [['2.3', [2]]],
    ROL: [
      ['2.3', [1, 2, 4]],
      ['2.3.1', [1, 2, 3, 4]],
      ['2.4', [2, 3, 4]],
    ],
    PRT: [['2.7', [2, 4]]],
    ARV: [['2.6', [2, 3]]],
    DB1: [['2.3', [1]]],
    OBX: [['2.3', [3, 11]]],
    AL1: [['2.3', [1, 3]]],
    DG1: [
      ['2.3', [1, 6]],
      ['2.7', [1, 3, 6]],
    ],
    PR1: [
      ['2.3', [1, 2, 6]],
      ['2.3.1', [1, 3, 5, 6]],
      ['2.4', [1, 3, 5]],
    ],
    GT1: [['2.3', [1, 3]]],
    IN1: [
      ['2.3', [1, 3]],
      ['2.3.1', [1, 2, 3]],
    ],
    IN3: [['2.3', [1]]],
    MRG: [['2.3', [1]]],
    ORC: [['2.3', [1]]],
    OBR: [['2.3', [4]]],
    CTD: [['2.3', [1]]],
    FT1: [['2.3', [4, 6, 7]]],
    CTI: [['2.3', [1]]],
    SPM: [['2.5', [4]]],
    SCH: [
      ['2.3', [1, 6, 11, 16, 20]],
      ['2.3.1', [6, 11, 16, 20]],
      ['2.5', [6, 16, 20]],
    ],
    RGS: [['2.3', [1]]],
    AIS: [['2.3', [1, 3]]],
    AIG: [['2.3', [1, 4]]],
    AIL: [
      ['2.3', [1, 3]],
      ['2.3.1', [1, 4]],
      ['2.5', [1]],
    ],
    AIP: [
      ['2.3', [1, 4]],
      ['2.5', [1]],
    ],
    TXA: [['2.3', [1, 2, 12, 17]]],
    CON: [['2.6', [1, 11, 24, 25]]],
    RXA: [['2.3', [1, 2, 3, 4, 5, 6]]],
    RXR: [['2.3', [1]]],
    ODS: [['2.3', [1, 3]]],
    ODT: [['2.3', [1]]],
    MSA: [['2.3', [1, 2]]],
    ERR: [
      ['2.3', [1]],
      ['2.5', [3, 4]],
    ],
  };
