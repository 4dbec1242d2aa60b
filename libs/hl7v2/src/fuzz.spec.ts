import { performance } from 'node:perf_hooks';
import { Hl7Message } from '@sinew/hl7v2';

/** Runs `fn` and returns its result and the wall time it took, in milliseconds. */
function timed<T>(fn: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = fn();
  return { value, ms: performance.now() - start };
}

/** Generous for a loaded 2-core machine; the linear code needs a few per cent of it. */
const BUDGET_MS = 1500;

describe('pathological inputs finish fast', () => {
  it('getAll over 200,000 repetitions of one field (was quadratic)', () => {
    const msg = Hl7Message.parse(`MSH|^~\\&|A\rPID|1||${'ID^X~'.repeat(200_000)}LAST^Y`);
    const { value, ms } = timed(() => msg.getAll('PID-3[*].1'));
    expect(value).toHaveLength(200_001);
    expect(value[0]).toBe('ID');
    expect(value[200_000]).toBe('LAST');
    expect(msg.getAll('PID-3[*]')[199_999]).toBe('ID^X');
    expect(ms).toBeLessThan(BUDGET_MS);
  });
});

describe('formatting escapes rendered as text stay proportionate', () => {
  it('5 MB of \\.sp999\\ renders without exceeding the longest string', () => {
    const msg = Hl7Message.parse(`MSH|^~\\&|A\rNTE|1||${'\\.sp999\\'.repeat(600_000)}`, {
      formatting: 'text',
    });
    const { value, ms } = timed(() => msg.get('NTE-3'));
    expect(value).toBe('\n'.repeat(99 * 600_000));
    expect(ms).toBeLessThan(BUDGET_MS);
    expect(Hl7Message.parse('MSH|^~\\&|A\rNTE|1||a\\.sp3\\b', { formatting: 'text' }).get('NTE-3')).toBe(
      'a\n\n\nb',
    );
  });
});
