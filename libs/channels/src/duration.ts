import { z } from 'zod';

/** `500ms`, `30s`, `5m`, `24h`, `7d`, or a number of milliseconds: every duration in a channel. */
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration, or undefined when it is not one. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/** A duration setting: parsed to milliseconds. */
export const duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `not a duration: ${String(v)} (write 500ms, 30s, 5m, 24h, 7d, or milliseconds)`,
        params: { lint: 'expression.duration' },
      });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'a duration: 500ms, 30s, 5m, 24h, 7d, or a number of milliseconds' });
