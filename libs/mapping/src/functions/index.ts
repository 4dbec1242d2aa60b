import { attachment } from './attachment.fn';
import { base64 } from './base64.fn';
import { yesNo } from './boolean.fn';
import { codingSystem } from './coding-system.fn';
import type { MappingFunction } from './define';
import { eiSystem } from './ei-system.fn';
import { format } from './format.fn';
import { fhirToHl7DateTime, hl7DateTime } from './hl7-datetime.fn';
import { rangeLimit } from './range-limit.fn';
import { structuredNumeric } from './structured-numeric.fn';
import { systemUri, textCase, toNumber } from './text.fn';
import { ucumUnit } from './ucum-unit.fn';
import { namespaceFromUri, universalIdFromUri, universalIdTypeFromUri } from './uri.fn';

export * from './define';

/** Every built-in function, declared once. Names must be unique (checked by a test). */
export const FUNCTIONS: readonly MappingFunction[] = [
  hl7DateTime,
  fhirToHl7DateTime,
  toNumber,
  textCase,
  systemUri,
  ucumUnit,
  universalIdFromUri,
  universalIdTypeFromUri,
  namespaceFromUri,
  structuredNumeric,
  rangeLimit,
  attachment,
  base64,
  codingSystem,
  yesNo,
  format,
  eiSystem,
] as MappingFunction[];
export * from './reference';
