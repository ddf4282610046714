/** Tests run against real Redis and Cassandra started once per run (test/support/globalSetup.js). */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The failure tests of the clustered topology run in npm run test:scale (jest.scale.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/scale/'],
  globalSetup: '<rootDir>/test/support/globalSetup.js',
  globalTeardown: '<rootDir>/test/support/globalTeardown.js',
  testTimeout: 60000,
  maxWorkers: 2,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
};
