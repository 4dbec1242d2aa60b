import type { SourceCursor } from '@sinew/connectors';
import type { Store } from '@sinew/store';

/**
 * A source's cursor in the ledger, keyed by channel and source type. Writing it with a
 * message goes through `IngestRequest.cursor` (same transaction as the message); `set` is for
 * moving it without one.
 */
export function sourceCursor(store: Store, channelId: string, source: string): SourceCursor {
  return {
    get: async () => (await store.getSourceCursor(channelId, source))?.value,
    set: (value) => store.setSourceCursor(channelId, source, value),
  };
}
