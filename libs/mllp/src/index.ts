export * from './errors';
export * from './framing';
export * from './tls-options';
export * from './backoff';
export * from './handler';
export * from './acks';
export * from './server';
export * from './client';
