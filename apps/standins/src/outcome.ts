import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/** An OperationOutcome with one error issue. */
export function outcome(code: OperationOutcomeIssue['code'], text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

/** An error answered with this HTTP status and OperationOutcome. */
export class HttpOutcomeError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome,
  ) {
    super(outcome.issue?.[0]?.details?.text ?? `HTTP ${status}`);
  }
}
