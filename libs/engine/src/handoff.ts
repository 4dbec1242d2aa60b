/**
 * What one stage of this process has just written to the ledger, kept for the next stage in
 * the same process so that it need not read it back: the raw message (and its parsed form)
 * for the pipeline, a delivery's record and payload for its first attempt. The ledger stays
 * the record: an entry is used at most once, by the job it was put for, and a job that finds
 * none (run by another process, after a restart, or after eviction) reads the ledger.
 * Bounded: past `max` entries the oldest are dropped.
 */
export class Handoff<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly max = 1_024) {}

  put(key: string, value: V): void {
    this.entries.set(key, value);
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  /** The entry for `key`, removed (an entry serves one job only). */
  take(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) this.entries.delete(key);
    return value;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
