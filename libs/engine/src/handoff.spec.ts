import { Handoff } from './handoff';

describe('Handoff', () => {
  it('gives an entry to one taker only', () => {
    const h = new Handoff<string>();
    h.put('p.1', 'raw');
    expect(h.take('p.1')).toBe('raw');
    expect(h.take('p.1')).toBeUndefined();
    expect(h.size).toBe(0);
  });

  it('keeps at most `max` entries, dropping the oldest', () => {
    const h = new Handoff<number>(3);
    for (let i = 1; i <= 5; i++) h.put(`k${i}`, i);
    expect(h.size).toBe(3);
    expect(h.take('k1')).toBeUndefined();
    expect(h.take('k2')).toBeUndefined();
    expect([h.take('k3'), h.take('k4'), h.take('k5')]).toEqual([3, 4, 5]);
  });

  it('forgets everything on clear', () => {
    const h = new Handoff<number>();
    h.put('a', 1);
    h.clear();
    expect(h.take('a')).toBeUndefined();
  });
});
