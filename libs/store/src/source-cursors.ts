import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import type { StoreKind } from './entities';
import { invalid } from './errors';
import type { SqlDatabase, SqlExecutor } from './sql';
import type { NewMessage, SourceCursorRecord } from './store';

/**
 * Source cursors: one row per channel and source connector (`source_cursor`), holding what a
 * polling source has consumed so far (a high-water mark, a paging cursor, the last scheduled
 * run) as an opaque text the source alone reads. The row is written in the same transaction as
 * the messages the source produced (`NewMessage.cursor`), so the ledger never holds a message
 * without the cursor that follows it, nor a cursor ahead of its messages.
 */

interface SourceCursorRow {
  channelId: string;
  source: string;
  value: string;
  updatedAt: Date | number;
}

/** The `source_cursor` table of one backend. */
export function sourceCursorEntities(kind: StoreKind): EntitySchema[] {
  const text = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: 'text',
    ...extra,
  });
  return [
    new EntitySchema<SourceCursorRow>({
      name: 'source_cursor',
      tableName: 'source_cursor',
      columns: {
        channelId: text({
          name: 'channel_id',
          primary: true,
          primaryKeyConstraintName: 'source_cursor_pkey',
        }),
        source: text({ primary: true, primaryKeyConstraintName: 'source_cursor_pkey' }),
        value: text(),
        updatedAt: { type: kind === 'postgres' ? 'timestamptz' : 'integer', name: 'updated_at' },
      },
    }),
  ];
}

const UPSERT =
  'INSERT INTO source_cursor (channel_id, source, value, updated_at) VALUES (?, ?, ?, ?) ' +
  'ON CONFLICT (channel_id, source) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at';

/** Checks a cursor before anything is written. */
export function checkCursor(channelId: unknown, source: unknown, value: unknown): void {
  if (typeof channelId !== 'string' || channelId === '') throw invalid('a source cursor needs a channel id');
  if (typeof source !== 'string' || source === '') throw invalid('a source cursor needs a source name');
  if (typeof value !== 'string') throw invalid('a source cursor value must be a string');
}

/**
 * Writes the cursors carried by a group of new messages, inside the group's transaction. When
 * several messages of the group carry a cursor for the same channel and source, the last one
 * in the group's order is kept (a source hands its messages over in the order it read them).
 */
export async function writeMessageCursors(
  db: SqlDatabase,
  tx: SqlExecutor,
  messages: readonly NewMessage[],
): Promise<void> {
  const latest = new Map<string, { channelId: string; source: string; value: string }>();
  for (const m of messages) {
    if (m.cursor === undefined) continue;
    latest.set(`${m.channelId}\u0000${m.cursor.source}`, {
      channelId: m.channelId,
      source: m.cursor.source,
      value: m.cursor.value,
    });
  }
  const now = db.time(new Date());
  for (const c of latest.values()) await tx.run(UPSERT, [c.channelId, c.source, c.value, now]);
}

export async function writeCursor(
  db: SqlDatabase,
  channelId: string,
  source: string,
  value: string,
): Promise<void> {
  checkCursor(channelId, source, value);
  await db.transaction((tx) => tx.run(UPSERT, [channelId, source, value, db.time(new Date())]));
}

export async function readCursor(
  db: SqlDatabase,
  channelId: string,
  source: string,
): Promise<SourceCursorRecord | undefined> {
  const row = await db.get<{ value: string; updated_at: number | string | Date }>(
    'SELECT value, updated_at FROM source_cursor WHERE channel_id = ? AND source = ?',
    [channelId, source],
  );
  if (!row) return undefined;
  const at = row.updated_at;
  return { value: row.value, updatedAt: at instanceof Date ? at : new Date(Number(at)) };
}
