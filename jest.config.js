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
/**
 * ES-module-only packages (jose, openid-client and its oauth4webapi, oidc-provider): compiled to
 * CommonJS for jest, which cannot load ES modules from CommonJS on Node 20 (Node itself can).
 */
const ESM_PACKAGES = ['jose', 'openid-client', 'oauth4webapi', 'oidc-provider', 'fhir-kit-client'];
// The console's components (React, automatic JSX runtime), tested in node with react-dom/server.
transform['^.+\\.tsx$'] = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', tsx: true },
      transform: { react: { runtime: 'automatic' } },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];
transform['^.+\\.m?js$'] = [
  '@swc/jest',
  { jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } },
];
const transformIgnorePatterns = [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`];

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
  '^@sinew/hub$': '<rootDir>/libs/hub/src/index.ts',
  '^@sinew/webhooks$': '<rootDir>/libs/webhooks/src/index.ts',
  '^@sinew/sandbox$': '<rootDir>/libs/sandbox/src/index.ts',
  '^@sinew/auth$': '<rootDir>/libs/auth/src/index.ts',
  '^@sinew/reconcile$': '<rootDir>/libs/reconcile/src/index.ts',
  '^@sinew/import-mirth$': '<rootDir>/libs/import-mirth/src/index.ts',
  '^@sinew/reconcile/lint$': '<rootDir>/libs/reconcile/src/lint-entry.ts',
  '^@sinew/engine-app/(.*)$': '<rootDir>/apps/engine/src/$1',
  '^@sinew/channels/testing$': '<rootDir>/libs/channels/src/testing.ts',
  '^@sinew/test-support/(.*)$': '<rootDir>/test/support/$1',
  '^@sinew/test-support$': '<rootDir>/test/support/index.ts',
  // Published with an `import` export only.
  '^fhir-kit-client$': '<rootDir>/node_modules/fhir-kit-client/dist/index.js',
};
const common = {
  transform,
  transformIgnorePatterns,
  moduleNameMapper,
  testEnvironment: 'node',
  rootDir: __dirname,
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts', '<rootDir>/apps/console/**/*.spec.tsx'],
      moduleNameMapper: { ...moduleNameMapper, '\\.css$': '<rootDir>/apps/console/test/style-stub.js' },
    },
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
