export * from './config';
export * from './http.module';
export * from './run';
