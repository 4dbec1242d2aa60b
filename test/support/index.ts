export * from './corpus';
export * from './wait';
