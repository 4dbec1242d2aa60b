import type { SqlDatabase, SqlExecutor } from './sql';

/** Where a child message came from: the parent message, its channel and the destination that handed it on. */
export interface ParentLink {
  messageId: string;
  channelId: string;
  destination: string;
}

/** A message a `channel` destination made from this one: the child, its channel, and which destination. */
export interface ChildLink {
  messageId: string;
  channelId: string;
  destination: string;
}

export interface MessageLinks {
  parent?: ParentLink;
  /** Oldest first. */
  children: ChildLink[];
}

/**
 * Parent and child messages (the `channel` destination's hand-offs). The link of a child is
 * written by `insertMessages` with the child (`NewMessage.parent`), in its transaction; these
 * methods read it.
 */
export interface LinkStore {
  /** The child that `destination` of message `parentId` made, when there is one. */
  findChild(parentId: string, destination: string): Promise<ChildLink | undefined>;
  /** The parent and the children of a message (none for a message no channel handed on). */
  linksOf(messageId: string): Promise<MessageLinks>;
}

interface LinkSqlRow {
  child_id: string;
  child_channel_id: string;
  parent_id: string;
  parent_channel_id: string;
  destination: string;
}

const COLUMNS = 'child_id, child_channel_id, parent_id, parent_channel_id, destination';

/** Inserts the links of newly inserted child messages (inside `insertMessages`'s transaction). */
export async function insertLinks(
  tx: SqlExecutor,
  db: SqlDatabase,
  links: ReadonlyArray<{ childId: string; childChannelId: string } & { parent: ParentLink }>,
  now: Date,
): Promise<void> {
  if (links.length === 0) return;
  const createdAt = db.time(now);
  await tx.insertRows({
    table: 'message_link',
    columns: ['child_id', 'child_channel_id', 'parent_id', 'parent_channel_id', 'destination', 'created_at'],
    pgTypes: ['text', 'text', 'text', 'text', 'text', 'timestamptz'],
    rows: links.map((l) => [
      l.childId,
      l.childChannelId,
      l.parent.messageId,
      l.parent.channelId,
      l.parent.destination,
      createdAt,
    ]),
  });
}

export class SqlLinkStore implements LinkStore {
  constructor(
    private readonly db: SqlDatabase,
    private readonly open: () => void,
  ) {}

  async findChild(parentId: string, destination: string): Promise<ChildLink | undefined> {
    this.open();
    const row = await this.db.get<LinkSqlRow>(
      `SELECT ${COLUMNS} FROM message_link WHERE parent_id = ? AND destination = ?`,
      [parentId, destination],
    );
    return row && { messageId: row.child_id, channelId: row.child_channel_id, destination: row.destination };
  }

  async linksOf(messageId: string): Promise<MessageLinks> {
    this.open();
    const parent = await this.db.get<LinkSqlRow>(`SELECT ${COLUMNS} FROM message_link WHERE child_id = ?`, [
      messageId,
    ]);
    const children = await this.db.all<LinkSqlRow>(
      `SELECT ${COLUMNS} FROM message_link WHERE parent_id = ? ORDER BY created_at, child_id`,
      [messageId],
    );
    return {
      ...(parent
        ? {
            parent: {
              messageId: parent.parent_id,
              channelId: parent.parent_channel_id,
              destination: parent.destination,
            },
          }
        : {}),
      children: children.map((c) => ({
        messageId: c.child_id,
        channelId: c.child_channel_id,
        destination: c.destination,
      })),
    };
  }
}
