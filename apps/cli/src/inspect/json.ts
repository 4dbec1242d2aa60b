import type { InspectedMessage } from './tree';

/** Keys of the tree that serve only the readable view. */
const VIEW_ONLY = new Set(['encoded', 'of']);

/**
 * The JSON tree of each message (shape in docs/cli.md): one object, or an array when the
 * command was given several files or a file holding several messages.
 */
export function renderJson(messages: InspectedMessage[], asArray: boolean): string {
  const value = asArray || messages.length !== 1 ? messages : messages[0];
  return JSON.stringify(value, (key, v: unknown) => (VIEW_ONLY.has(key) ? undefined : v), 2) + '\n';
}
