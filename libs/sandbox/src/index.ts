export * from './reference';
export * from './generator';
