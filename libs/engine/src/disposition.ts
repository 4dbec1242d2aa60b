import type { Disposition, DispositionIssue } from '@sinew/connectors';
import { Hl7ErrorCondition } from '@sinew/hl7v2';
import type { MessageIssue } from '@sinew/store';
import type { CheckName, ValidationRule } from '@sinew/validation';

/** HL7 table 0357 condition of each validation check: what ERR-3 says when it fails. */
const CHECK_CONDITION: Record<CheckName, string> = {
  required: Hl7ErrorCondition.RequiredFieldMissing,
  pattern: Hl7ErrorCondition.DataTypeError,
  datetime: Hl7ErrorCondition.DataTypeError,
  range: Hl7ErrorCondition.DataTypeError,
  length: Hl7ErrorCondition.ValueTooLong,
  allowed: Hl7ErrorCondition.TableValueNotFound,
  table: Hl7ErrorCondition.TableValueNotFound,
  compare: Hl7ErrorCondition.ApplicationInternalError,
};

/** Conditions of the built-in checks (message structure, header), by issue code. */
const CODE_CONDITION: Record<string, string> = {
  'hl7.required': Hl7ErrorCondition.RequiredFieldMissing,
  'hl7.structure.missing_segment': Hl7ErrorCondition.SegmentSequenceError,
  'hl7.structure.unexpected_segment': Hl7ErrorCondition.SegmentSequenceError,
  'hl7.structure.order': Hl7ErrorCondition.SegmentSequenceError,
  'hl7.structure.unknown': Hl7ErrorCondition.UnsupportedMessageType,
  'hl7.structure.version': Hl7ErrorCondition.UnsupportedVersionId,
};

/**
 * The ERR-3 condition of an issue: from the check of the rule that raised it (the rule's
 * `required`, `pattern` … not its name), or the built-in check's code; 207 otherwise.
 */
export function issueCondition(issue: MessageIssue, rules: readonly ValidationRule[] = []): string {
  const rule = rules.find((r) => r.code === issue.code);
  if (rule) {
    const check = (Object.keys(CHECK_CONDITION) as CheckName[]).find((c) => rule[c] !== undefined);
    if (check) return CHECK_CONDITION[check];
  }
  return CODE_CONDITION[issue.code] ?? Hl7ErrorCondition.ApplicationInternalError;
}

/** The disposition's issue for a ledger issue (an HL7 location only when it is one). */
export function dispositionIssue(issue: MessageIssue, condition: string): DispositionIssue {
  const location = issue.location?.split(' ')[0];
  return {
    code: issue.code,
    message: issue.message,
    condition,
    ...(location && /^[A-Z][A-Z0-9]{2}/.test(location) ? { location } : {}),
  };
}

export type { Disposition };
