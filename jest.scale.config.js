/**
 * npm run test:scale: the clustered topology (TEST_TOPOLOGY=scale: a Redis Cluster of 3 masters
 * with a replica each, 3 Cassandra nodes at RF 3), the failure tests in test/scale, and the e2e
 * flows that send, sync and crash, unchanged, on that topology.
 */
const base = require('./jest.config');

/** The e2e files that run again on the clustered topology. */
const E2E_ON_CLUSTER = ['auth', 'messaging', 'groups', 'sync', 'ordering', 'presence', 'consent', 'revocation', 'sdk', 'lifecycle'];

module.exports = {
  ...base,
  testPathIgnorePatterns: [],
  testMatch: ['<rootDir>/test/scale/**/*.test.ts', ...E2E_ON_CLUSTER.map((f) => `<rootDir>/test/e2e/${f}.test.ts`)],
};
