import type { PipelineResult } from '@sinew/store';
import type { EngineLogger } from './logger';
import type { EngineMetrics } from './metrics';

/**
 * What a message's pipeline came to, as an operator counts it and, when it went wrong, reads
 * it: one value from which both the metric and the warn line are made, so the two never
 * disagree. Ids and codes only: no content, no patient data.
 */
export type PipelineEvent =
  | { kind: 'filtered'; channel: string; messageId: string }
  /** Refused by a `reject` policy: the sender is told (AE), nothing is logged. */
  | { kind: 'rejected'; channel: string; messageId: string; issues: string[] }
  /** A step failed on the message (its data): recorded `errored`, reprocessable. */
  | { kind: 'errored'; channel: string; messageId: string; steps: string[]; issues: string[] }
  /** The pipeline itself kept failing (not the data: a thread that died, a ledger that refused). */
  | { kind: 'failed'; channel: string; messageId: string; attempts: number; reason: string };

/** The event of a pipeline result; undefined for a message processed as it should be. */
export function pipelineEvent(
  channel: string,
  messageId: string,
  result: Pick<PipelineResult, 'status' | 'issues'>,
): PipelineEvent | undefined {
  const errors = result.issues.filter((i) => i.severity === 'error');
  const issues = errors.map((i) => i.code);
  if (result.status === 'filtered') return { kind: 'filtered', channel, messageId };
  if (result.status === 'rejected') return { kind: 'rejected', channel, messageId, issues };
  if (result.status === 'errored') {
    const steps = [...new Set(errors.map((i) => i.step ?? 'pipeline'))];
    return { kind: 'errored', channel, messageId, steps, issues };
  }
  return undefined;
}

/**
 * Counts the mapping warnings of a pipeline result (`sinew_mapping_warnings_total`, by
 * channel and code: `map.unmapped`, `map.defaulted` …). They are kept on the message itself.
 */
export function recordMappingWarnings(
  channel: string,
  result: Pick<PipelineResult, 'issues'>,
  metrics: EngineMetrics,
): void {
  for (const i of result.issues) {
    if (i.severity === 'warning' && i.code.startsWith('map.'))
      metrics.mappingWarnings.inc({ channel, code: i.code });
  }
}

/** Counts the event and, for a failure, logs its one warn line. */
export function recordPipelineEvent(
  event: PipelineEvent,
  metrics: EngineMetrics,
  logger: EngineLogger,
): void {
  const labels = { channel: event.channel };
  switch (event.kind) {
    case 'filtered':
      metrics.filtered.inc(labels);
      return;
    case 'rejected':
      metrics.rejected.inc(labels);
      return;
    case 'errored':
      metrics.errored.inc(labels);
      logger.warn(
        {
          event: 'pipeline.errored',
          channel: event.channel,
          messageId: event.messageId,
          steps: event.steps,
          issues: event.issues,
        },
        'message errored in the pipeline',
      );
      return;
    case 'failed':
      metrics.errored.inc(labels);
      logger.warn(
        {
          event: 'pipeline.failed',
          channel: event.channel,
          messageId: event.messageId,
          attempts: event.attempts,
          err: event.reason,
        },
        'pipeline kept failing; message errored',
      );
      return;
  }
}
