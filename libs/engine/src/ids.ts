import { randomBytes } from 'node:crypto';

let lastMs = 0;
let counter = 0;

/**
 * A time-ordered UUID (version 7, RFC 9562): 48 bits of milliseconds, then a 12-bit counter
 * that keeps ids made in the same millisecond in order, then random bits. Message ids sort
 * by arrival, and they contain no `:` (queue job ids derive from them).
 */
export function messageId(now = Date.now()): string {
  if (now <= lastMs) {
    counter++;
    if (counter > 0xfff) {
      lastMs++;
      counter = 0;
    }
  } else {
    lastMs = now;
    counter = 0;
  }
  const rand = randomBytes(8);
  const ms = lastMs.toString(16).padStart(12, '0');
  const c = (0x7000 | counter).toString(16);
  const variant = ((rand[0] as number) & 0x3f) | 0x80;
  const tail = Buffer.concat([Buffer.from([variant]), rand.subarray(1)]).toString('hex');
  return `${ms.slice(0, 8)}-${ms.slice(8)}-${c}-${tail.slice(0, 4)}-${tail.slice(4, 16)}`;
}

/** The time (ms since epoch) a message id was made: its first 48 bits. */
export function messageIdTime(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
