'use strict';
/**
 * Once per jest run: Redis and Cassandra on ephemeral loopback ports, data in .local/test-runs/<run>,
 * a keyspace and key prefix of the run's own, the schema applied. Workers read the CHAT_* variables.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const infra = require('../../scripts/lib/infra');

module.exports = async function globalSetup() {
  const run = crypto.randomBytes(4).toString('hex');
  const dir = path.join(infra.LOCAL, 'test-runs', run);
  const [redisPort, nativePort, storagePort, sslStoragePort] =
    [await infra.freePort(), await infra.freePort(), await infra.freePort(), await infra.freePort()];
  const started = Date.now();
  const [redis, cassandra] = await Promise.all([
    infra.startRedis({ port: redisPort, dir: path.join(dir, 'redis'), persist: false }),
    infra.startCassandra({ dir: path.join(dir, 'cassandra'), nativePort, storagePort, sslStoragePort, clusterName: `test-${run}`, heapMb: 768 }),
  ]);
  globalThis.__TEST_INFRA__ = { redis, cassandra, dir };
  Object.assign(process.env, {
    CHAT_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    CHAT_REDIS_KEY_PREFIX: `t${run}:`,
    CHAT_CASSANDRA_CONTACT_POINTS: `127.0.0.1:${nativePort}`,
    CHAT_CASSANDRA_KEYSPACE: `test_${run}`,
    CHAT_AUTH_BCRYPT_ROUNDS: '4',
    // Every test signs up from 127.0.0.1; the signup limit has its own test with its own node.
    CHAT_RATE_LIMIT_SIGNUPS_PER_IP_PER_HOUR: '10000000',
    CHAT_LOG_LEVEL: process.env.CHAT_LOG_LEVEL ?? 'warn',
    TEST_RUN_ID: run,
  });
  const { loadConfig } = require('../../dist/config/config.js');
  const { createLogger } = require('../../dist/log.js');
  const { runMigrations } = require('../../dist/store/migrate.js');
  const config = loadConfig();
  await runMigrations(config, createLogger('warn', { name: 'test-migrate' }));
  process.stdout.write(`\n[test] Redis :${redisPort}, Cassandra :${nativePort}, keyspace ${config.cassandra.keyspace}, ready in ${Date.now() - started} ms\n`);
  fs.writeFileSync(path.join(dir, 'env.json'), JSON.stringify({ redisPort, nativePort }));
};
