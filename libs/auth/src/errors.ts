/**
 * Errors the access services raise for a caller's mistake (the HTTP layer maps them:
 * `access.invalid` → 400, `access.not_found` → 404, `access.conflict` → 409). Messages name
 * ids, usernames and fields, never a password, a key or message content.
 */
export class AccessError extends Error {
  constructor(
    readonly code: 'access.invalid' | 'access.not_found' | 'access.conflict',
    message: string,
  ) {
    super(message);
    this.name = 'AccessError';
  }
}

export const invalidInput = (message: string) => new AccessError('access.invalid', message);
export const notFound = (message: string) => new AccessError('access.not_found', message);
export const conflict = (message: string) => new AccessError('access.conflict', message);
