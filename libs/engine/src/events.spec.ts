import { Writable } from 'node:stream';
import { pipelineEvent, recordPipelineEvent } from './events';
import { createLogger } from './logger';
import { EngineMetrics } from './metrics';

/** A logger writing JSON lines into an array, and a metrics registry of its own. */
function sinks() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger('info', stream), metrics: new EngineMetrics(false) };
}

async function counted(metrics: EngineMetrics, name: string, channel: string): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return Number(m?.values.find((v) => v.labels.channel === channel)?.value ?? 0);
}

describe('a pipeline outcome as one event', () => {
  it('makes the errored metric and the one warn line from the same value, with codes and no content', async () => {
    const { lines, logger, metrics } = sinks();
    const event = pipelineEvent('lab', 'm-1', {
      status: 'errored',
      issues: [
        { severity: 'warning', code: 'validate.length', message: 'PID-5 Smith too long', step: 'validate' },
        { severity: 'error', code: 'map.required', message: 'PID-5 Smith is required', step: 'map' },
      ],
    });
    expect(event).toEqual({
      kind: 'errored',
      channel: 'lab',
      messageId: 'm-1',
      steps: ['map'],
      issues: ['map.required'],
    });
    recordPipelineEvent(event!, metrics, logger);
    expect(await counted(metrics, 'sinew_messages_errored_total', 'lab')).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      event: 'pipeline.errored',
      channel: 'lab',
      messageId: 'm-1',
      steps: ['map'],
      issues: ['map.required'],
      msg: 'message errored in the pipeline',
    });
    expect(JSON.stringify(lines)).not.toContain('Smith');
  });

  it('counts a pipeline that kept failing as errored with its own warn line', async () => {
    const { lines, logger, metrics } = sinks();
    recordPipelineEvent(
      { kind: 'failed', channel: 'lab', messageId: 'm-2', attempts: 5, reason: 'Error: thread exited' },
      metrics,
      logger,
    );
    expect(await counted(metrics, 'sinew_messages_errored_total', 'lab')).toBe(1);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        event: 'pipeline.failed',
        attempts: 5,
        err: 'Error: thread exited',
      }),
    ]);
  });

  it('counts filtered and rejected messages without a log line; a processed one is no event', async () => {
    const { lines, logger, metrics } = sinks();
    recordPipelineEvent(pipelineEvent('lab', 'm-3', { status: 'filtered', issues: [] })!, metrics, logger);
    recordPipelineEvent(
      pipelineEvent('lab', 'm-4', {
        status: 'rejected',
        issues: [{ severity: 'error', code: 'lab.collected', message: 'required', step: 'validate' }],
      })!,
      metrics,
      logger,
    );
    expect(pipelineEvent('lab', 'm-5', { status: 'processed', issues: [] })).toBeUndefined();
    expect(await counted(metrics, 'sinew_messages_filtered_total', 'lab')).toBe(1);
    expect(await counted(metrics, 'sinew_messages_rejected_total', 'lab')).toBe(1);
    expect(lines).toEqual([]);
  });
});
