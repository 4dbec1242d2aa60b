import { createHash } from 'node:crypto';

/** The hash a deployment is known by: sha256 of the channel file's text (UTF-8), lowercase hex. */
export function contentHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
