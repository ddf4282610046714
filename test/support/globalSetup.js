'use strict';
/**
 * Once per jest run: Redis and Cassandra on ephemeral loopback ports, data in .local/test-runs/<run>,
 * a keyspace and key prefix of the run's own, the schema applied. Workers read the CHAT_* variables.
 *
 * TEST_TOPOLOGY=scale (npm run test:scale) starts the clustered topology instead: a Redis Cluster
 * of 3 masters with a replica each, and 3 Cassandra nodes on 127.0.0.1-3 with a keyspace at RF 3.
 * Where everything runs is written to TEST_TOPOLOGY_FILE for the failure tests (test/support/topology.ts).
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const infra = require('../../scripts/lib/infra');

const CASSANDRA_ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];

async function standalone(run, dir) {
  const [redisPort, nativePort, storagePort] = [await infra.freePort(), await infra.freePort(), await infra.freePort()];
  // A Cassandra named by the caller (npm test with CHAT_CASSANDRA_CONTACT_POINTS) is used as it is.
  const external = process.env.CHAT_CASSANDRA_CONTACT_POINTS;
  const [redis, cassandra] = await Promise.all([
    infra.startRedis({ port: redisPort, dir: path.join(dir, 'redis'), persist: false }),
    external ? null : infra.startCassandra({ dir: path.join(dir, 'cassandra'), nativePort, storagePort, clusterName: `test-${run}`, heapMb: 768 }),
  ]);
  return {
    handles: [redis, cassandra].filter(Boolean),
    env: {
      CHAT_REDIS_URL: `redis://127.0.0.1:${redisPort}`, CHAT_CASSANDRA_CONTACT_POINTS: external ?? `127.0.0.1:${nativePort}`,
      // Tests that pause the run's Cassandra cannot pause one they did not start.
      ...(external ? { TEST_EXTERNAL_CASSANDRA: '1' } : {}),
    },
    summary: `Redis :${redisPort}, Cassandra ${external ?? `:${nativePort}`}`,
    topology: { redisPort, nativePort },
  };
}

async function scale(run, dir) {
  // Distinct ports: each was free when asked, but the OS may hand the same one out twice.
  const taken = new Set();
  const distinct = async (next) => {
    for (;;) {
      const port = await next();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  const ports = [];
  for (let i = 0; i < 12; i++) ports.push(await distinct(infra.freePort));
  const cassandraPort = () => infra.portFreeOn(CASSANDRA_ADDRESSES);
  const [nativePort, storagePort] = [await distinct(cassandraPort), await distinct(cassandraPort)];
  // Redis Cluster nodes that lose their master for 2 s elect a replica (the failover tests wait on it).
  const settled = await Promise.allSettled([
    infra.startRedisCluster({ dir: path.join(dir, 'redis-cluster'), ports: ports.slice(0, 6), busPorts: ports.slice(6), nodeTimeoutMs: 2000 }),
    infra.startCassandraCluster({ dir: path.join(dir, 'cassandra'), addresses: CASSANDRA_ADDRESSES, nativePort, storagePort,
      clusterName: `test-${run}`, heapMb: 640 }),
  ]);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(settled.filter((s) => s.status === 'fulfilled').map((s) => s.value.stop()));
    throw failed.reason;
  }
  const [redis, cassandra] = settled.map((s) => s.value);
  return {
    handles: [redis, cassandra],
    env: {
      CHAT_REDIS_CLUSTER_NODES: redis.seeds.join(','),
      // Nothing listens there: a node that ignored the cluster seeds would fail at once.
      CHAT_REDIS_URL: 'redis://127.0.0.1:1',
      CHAT_CASSANDRA_CONTACT_POINTS: cassandra.contactPoints.join(','),
      CHAT_CASSANDRA_REPLICATION_FACTOR: '3',
      CHAT_CASSANDRA_CONSISTENCY: 'localQuorum',
    },
    /** How the run's keys spread over the masters (printed at teardown: the hash tags at work). */
    keyDistribution: () => {
      // Per master, the keys by the kind of their hash tag: {u:…} users, {c:…} conversations, {n:…} node streams, …
      const kinds = ['u', 'c', 'n', 'i', 'nodes', 'untagged'];
      const perMaster = redis.masters().map((m) => {
        const counts = Object.fromEntries(kinds.map((k) => [k, 0]));
        for (const key of infra.redisCli(m.port, '--scan').split('\n').filter(Boolean)) {
          const tag = /\{([a-z]+)(:|\})/.exec(key);
          counts[tag && kinds.includes(tag[1]) ? tag[1] : 'untagged']++;
        }
        return counts;
      });
      const row = (k) => `${k} ${perMaster.map((c) => c[k]).join('/')}`;
      const totals = perMaster.map((c) => kinds.reduce((n, k) => n + c[k], 0));
      return `keys per master at the end of the run: ${totals.join(' / ')}; by tag: ${kinds.map(row).join(', ')}`;
    },
    summary: `Redis Cluster :${ports.slice(0, 6).join(',')} (3 masters + 3 replicas), Cassandra ${CASSANDRA_ADDRESSES.join(',')} :${nativePort} (RF 3)`,
    topology: {
      redisPorts: ports.slice(0, 6), busPorts: ports.slice(6), redisDir: path.join(dir, 'redis-cluster'), nodeTimeoutMs: 2000,
      cassandraAddresses: CASSANDRA_ADDRESSES, nativePort, storagePort, cassandraDir: path.join(dir, 'cassandra'),
      clusterName: `test-${run}`, heapMb: 640,
    },
  };
}

module.exports = async function globalSetup() {
  const run = crypto.randomBytes(4).toString('hex');
  const dir = path.join(infra.LOCAL, 'test-runs', run);
  const started = Date.now();
  const topology = process.env.TEST_TOPOLOGY === 'scale' ? 'scale' : 'standalone';
  const infraUp = await (topology === 'scale' ? scale(run, dir) : standalone(run, dir));
  globalThis.__TEST_INFRA__ = { handles: infraUp.handles, dir, keyDistribution: infraUp.keyDistribution };
  const topologyFile = path.join(dir, 'topology.json');
  Object.assign(process.env, infraUp.env, {
    CHAT_REDIS_KEY_PREFIX: `t${run}:`,
    CHAT_CASSANDRA_KEYSPACE: `test_${run}`,
    CHAT_AUTH_BCRYPT_ROUNDS: '4',
    // Every test signs up from 127.0.0.1; the signup limit has its own test with its own node.
    CHAT_RATE_LIMIT_SIGNUPS_PER_IP_PER_HOUR: '10000000',
    CHAT_LOG_LEVEL: process.env.CHAT_LOG_LEVEL ?? 'warn',
    TEST_RUN_ID: run,
    TEST_TOPOLOGY: topology,
    TEST_TOPOLOGY_FILE: topologyFile,
  });
  try {
    const { loadConfig } = require('../../dist/config/config.js');
    const { createLogger } = require('../../dist/log.js');
    const { runMigrations } = require('../../dist/store/migrate.js');
    const config = loadConfig();
    await runMigrations(config, createLogger('warn', { name: 'test-migrate' }));
    process.stdout.write(`\n[test] ${infraUp.summary}, keyspace ${config.cassandra.keyspace}, ready in ${Date.now() - started} ms\n`);
  } catch (err) {
    await Promise.all(infraUp.handles.map((h) => h.stop()));
    throw err;
  }
  fs.writeFileSync(topologyFile, JSON.stringify({ topology, ...infraUp.topology }));
};
