/**
 * Errors the store raises on its own (database failures surface as the driver's errors).
 * Messages name ids and states only, never message content.
 */
export class StoreError extends Error {
  constructor(
    /** Stable, dotted: `store.closed`, `store.not_found`, `store.conflict`, `store.invalid`. */
    readonly code: 'store.closed' | 'store.not_found' | 'store.conflict' | 'store.invalid',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export function closedError(): StoreError {
  return new StoreError('store.closed', 'the store is closed');
}

export function notFound(what: 'message' | 'delivery', id: string): StoreError {
  return new StoreError('store.not_found', `${what} ${id} does not exist`);
}

export function conflict(message: string): StoreError {
  return new StoreError('store.conflict', message);
}

export function invalid(message: string): StoreError {
  return new StoreError('store.invalid', message);
}
