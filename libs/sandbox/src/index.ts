export * from './reference';
export * from './generator';
export * from './simulator';
