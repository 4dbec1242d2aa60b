/**
 * FHIR R4 OperationOutcome: the one shape every HTTP-facing connector uses to explain a
 * refusal, and the reading of the OperationOutcomes peers send back.
 */

/** FHIR issue type codes used by the connectors (value set `issue-type`). */
export const IssueType = {
  Invalid: 'invalid',
  Structure: 'structure',
  Required: 'required',
  Incomplete: 'incomplete',
  TooLong: 'too-long',
  NotSupported: 'not-supported',
  Security: 'security',
  Login: 'login',
  Forbidden: 'forbidden',
  NotFound: 'not-found',
  Transient: 'transient',
  Exception: 'exception',
} as const;
export type IssueType = (typeof IssueType)[keyof typeof IssueType];

export interface OperationOutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: string;
  diagnostics?: string;
  details?: { text?: string };
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

/** An OperationOutcome with one error issue. `diagnostics` must not quote message content. */
export function operationOutcome(
  code: IssueType,
  diagnostics: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

/** True for a JSON value shaped like an OperationOutcome. */
export function isOperationOutcome(value: unknown): value is OperationOutcome {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { resourceType?: unknown }).resourceType === 'OperationOutcome' &&
    Array.isArray((value as { issue?: unknown }).issue)
  );
}

/** The error and fatal issues of an OperationOutcome. */
export function errorIssues(outcome: OperationOutcome): OperationOutcomeIssue[] {
  return outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');
}

/**
 * One line describing an OperationOutcome's issues (errors first; each its code and its
 * diagnostics or details text), e.g. `invalid: Incorrect resource type`.
 */
export function describeOutcome(outcome: OperationOutcome): string {
  const errors = errorIssues(outcome);
  const issues = errors.length > 0 ? errors : outcome.issue;
  return issues
    .map((i) => {
      const text = i.diagnostics ?? i.details?.text;
      return text ? `${i.code}: ${text}` : i.code;
    })
    .join('; ');
}
