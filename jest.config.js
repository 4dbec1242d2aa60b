/** Three tiers, as docs/testing.md describes: unit (no services), integration (real sockets,
 * real peers), e2e (the `sinew` command run as a user runs it). */
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
    },
  ],
};
const moduleNameMapper = {
  '^@sinew/hl7v2$': '<rootDir>/libs/hl7v2/src/index.ts',
  '^@sinew/mllp$': '<rootDir>/libs/mllp/src/index.ts',
  '^@sinew/mapping$': '<rootDir>/libs/mapping/src/index.ts',
  '^@sinew/validation$': '<rootDir>/libs/validation/src/index.ts',
  '^@sinew/queue$': '<rootDir>/libs/queue/src/index.ts',
  '^@sinew/store$': '<rootDir>/libs/store/src/index.ts',
  '^@sinew/connectors$': '<rootDir>/libs/connectors/src/index.ts',
  '^@sinew/engine$': '<rootDir>/libs/engine/src/index.ts',
  '^@sinew/channels$': '<rootDir>/libs/channels/src/index.ts',
  '^@sinew/auth$': '<rootDir>/libs/auth/src/index.ts',
  '^@sinew/engine-app/(.*)$': '<rootDir>/apps/engine/src/$1',
  '^@sinew/channels/testing$': '<rootDir>/libs/channels/src/testing.ts',
  '^@sinew/test-support/(.*)$': '<rootDir>/test/support/$1',
  '^@sinew/test-support$': '<rootDir>/test/support/index.ts',
};
const common = { transform, moduleNameMapper, testEnvironment: 'node', rootDir: __dirname };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/{apps,libs}/**/*.int-spec.ts'],
      slowTestThreshold: 30,
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/e2e/global-setup.ts',
    },
  ],
};
