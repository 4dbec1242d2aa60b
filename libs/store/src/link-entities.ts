import { EntitySchema } from 'typeorm';
import type { StoreKind } from './entities';

/**
 * Links between messages: a row per message that a `channel` destination handed from one
 * channel (the parent) to another (the child). Written in the same transaction as the child
 * message, so a child without its link, or a link without its child, never exists. One child
 * per parent and destination (the unique index): a hand-off attempted again after the child
 * was committed finds the child instead of making a second one.
 */
export interface MessageLinkRow {
  childId: string;
  childChannelId: string;
  parentId: string;
  parentChannelId: string;
  destination: string;
  createdAt: Date | number;
}

export function linkEntities(kind: StoreKind): EntitySchema[] {
  const pg = kind === 'postgres';
  return [
    new EntitySchema<MessageLinkRow>({
      name: 'message_link',
      tableName: 'message_link',
      columns: {
        childId: {
          type: 'text',
          name: 'child_id',
          primary: true,
          primaryKeyConstraintName: 'message_link_pkey',
        },
        childChannelId: { type: 'text', name: 'child_channel_id' },
        parentId: { type: 'text', name: 'parent_id' },
        parentChannelId: { type: 'text', name: 'parent_channel_id' },
        destination: { type: 'text' },
        createdAt: { type: pg ? 'timestamptz' : 'integer', name: 'created_at' },
      },
      indices: [{ name: 'message_link_parent_key', columns: ['parentId', 'destination'], unique: true }],
    }),
  ];
}
