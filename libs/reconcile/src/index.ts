export * from './types';
export * from './period';
export * from './schema';
export * from './normalise';
export * from './spill';
export * from './compare';
export * from './classify';
export * from './report';
