#!/usr/bin/env node
'use strict';
/**
 * npm start: a local cluster on one machine.
 *   installs what is missing (npm packages, Redis, Java and Maven, Cassandra 5.0 from Maven Central), starts Redis and Cassandra on
 *   loopback (data kept under .local/data), applies the schema, builds, and starts N nodes.
 *
 *   npm start                      2 nodes on 8080, 8081
 *   npm start -- --nodes 3 --port 9000
 *   CLUSTER_NODES=3 CLUSTER_BASE_PORT=9000 npm start
 *   npm start -- --redis-cluster 3 --cassandra-nodes 3
 *                                  clustered engines: a Redis Cluster of 3 masters with a replica each on
 *                                  127.0.0.1:6400-6405 (--redis-cluster-port; created empty each start), and
 *                                  3 Cassandra nodes on 127.0.0.1-3:9142 (--cassandra-port, storage 7100;
 *                                  data kept in .local/data/cassandra-cluster) with the keyspace at RF 3.
 *                                  The ports stay clear of the standalone ones (6379, 9042, 7000).
 *
 * Redis and Cassandra come from app.properties (CHAT_* overrides apply); if they are on loopback and
 * nothing answers there, this script starts them. Ctrl-C stops the nodes, then what it started.
 * Nodes log JSON lines (pino); here they are shown pretty for a person (pino-pretty). Nodes started
 * any other way (tests, bench, production) keep writing JSON.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');
const { parseArgs } = require('node:util');
const infra = require('./lib/infra');

/** The command line (node:util parseArgs), with CLUSTER_NODES and CLUSTER_BASE_PORT as defaults for the first two. */
function options(argv) {
  const flags = {
    nodes: process.env.CLUSTER_NODES ?? '2', port: process.env.CLUSTER_BASE_PORT ?? '8080',
    'redis-cluster': '0', 'redis-cluster-port': '6400', 'cassandra-nodes': '0', 'cassandra-port': '9142', 'cassandra-storage-port': '7100',
  };
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(flags).map(([name, fallback]) => [name, { type: 'string', default: fallback }])),
    }));
  } catch (err) {
    throw new infra.SetupError(`${err.message} (options: ${Object.keys(flags).map((f) => `--${f}`).join(', ')})`);
  }
  const opts = {
    nodes: Number(values.nodes), port: Number(values.port),
    redisCluster: Number(values['redis-cluster']), redisClusterPort: Number(values['redis-cluster-port']),
    cassandraNodes: Number(values['cassandra-nodes']), cassandraPort: Number(values['cassandra-port']),
    cassandraStoragePort: Number(values['cassandra-storage-port']),
  };
  if (!Number.isInteger(opts.redisCluster) || (opts.redisCluster !== 0 && (opts.redisCluster < 3 || opts.redisCluster > 16))) {
    throw new infra.SetupError('--redis-cluster must be 3..16 masters (Redis Cluster needs 3)');
  }
  if (!Number.isInteger(opts.cassandraNodes) || opts.cassandraNodes < 0 || opts.cassandraNodes > 9) throw new infra.SetupError('--cassandra-nodes must be 1..9');
  for (const [k, flag] of [['redisClusterPort', 'redis-cluster-port'], ['cassandraPort', 'cassandra-port'], ['cassandraStoragePort', 'cassandra-storage-port']]) {
    if (!Number.isInteger(opts[k]) || opts[k] < 1 || opts[k] + 2 * 16 > 55535) throw new infra.SetupError(`--${flag} must be a valid port`);
  }
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 64) throw new infra.SetupError('--nodes must be 1..64');
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port + opts.nodes > 65535) throw new infra.SetupError('--port must be a valid port');
  return opts;
}

async function main() {
  const opts = options(process.argv.slice(2));
  infra.ensureNodeModules();
  infra.build();
  const { loadConfig } = require(path.join(infra.ROOT, 'dist', 'config', 'config.js'));
  // Clustered engines started here are handed to the migration and the nodes through CHAT_* variables.
  const clustered = await startClustered(opts);
  const config = loadConfig();
  const local = await infra.bringUpLocal(config, { redis: !opts.redisCluster, cassandra: !opts.cassandraNodes });
  const stopAll = async () => {
    await local.stopAll();
    await clustered.stopAll();
  };
  try {
    infra.log('applying the schema');
    await run(process.execPath, [path.join(__dirname, 'migrate.js')]);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const nodes = [];
  for (let i = 0; i < opts.nodes; i++) {
    const port = opts.port + i;
    // Own process group: Ctrl-C reaches only this script, which then stops nodes before storage.
    const child = spawn(process.execPath, [path.join(infra.ROOT, 'dist', 'main.js'), String(port)], { stdio: ['inherit', 'inherit', 'pipe'], detached: true });
    child.stderr.pipe(prettyLog('[node {nodeId}] {msg}'));
    nodes.push(child);
  }
  infra.log(`cluster of ${opts.nodes} node(s):`);
  for (let i = 0; i < opts.nodes; i++) {
    infra.log(`  http://127.0.0.1:${opts.port + i}   ws://127.0.0.1:${opts.port + i}/ws`);
  }
  infra.log(`open the chat app in a browser: http://127.0.0.1:${opts.port}/${opts.nodes > 1 ? ` (and http://127.0.0.1:${opts.port + 1}/ for a second person)` : ''}`);
  for (const line of clustered.describe) infra.log(line);
  infra.log('Ctrl-C stops everything');

  let stopping = false;
  const shutdown = async (code) => {
    if (stopping) return;
    stopping = true;
    infra.log('stopping nodes');
    await Promise.all(nodes.map((c) => infra.stopChild(c, 'node', 15000)));
    await stopAll();
    infra.log('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGHUP', () => void shutdown(0));
  for (const c of nodes) {
    c.on('exit', (code, signal) => {
      if (!stopping) {
        infra.log(`a node exited (${code ?? signal}); stopping the cluster`);
        void shutdown(1);
      }
    });
  }
}

/**
 * The clustered engines asked for (--redis-cluster, --cassandra-nodes), on loopback, with what the
 * nodes need to find them set in process.env (so the migration and every node inherit it).
 */
async function startClustered(opts) {
  const started = [];
  const describe = [];
  const stopAll = async () => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    if (opts.redisCluster) {
      const n = opts.redisCluster * 2;
      const ports = Array.from({ length: n }, (_, i) => opts.redisClusterPort + i);
      infra.log(`starting a Redis Cluster: ${opts.redisCluster} masters + ${opts.redisCluster} replicas on 127.0.0.1:${ports[0]}-${ports[n - 1]} (created empty)`);
      const redis = await infra.startRedisCluster({
        dir: path.join(infra.LOCAL, 'data', 'redis-cluster'), ports, busPorts: ports.map((p) => p + 10000), nodeTimeoutMs: 5000,
      });
      started.push(redis);
      process.env.CHAT_REDIS_CLUSTER_NODES = redis.seeds.join(',');
      describe.push(`Redis Cluster seeds: CHAT_REDIS_CLUSTER_NODES=${process.env.CHAT_REDIS_CLUSTER_NODES}`);
      for (const m of redis.masters()) describe.push(`  master :${m.port}, replica :${m.replicaPort}`);
    }
    if (opts.cassandraNodes) {
      const addresses = Array.from({ length: opts.cassandraNodes }, (_, i) => `127.0.0.${i + 1}`);
      infra.log(`starting ${opts.cassandraNodes} Cassandra ${infra.cassandraVersion} nodes on ${addresses.join(', ')} port ${opts.cassandraPort} (data in .local/data/cassandra-cluster; ~30 s)`);
      const cassandra = await infra.startCassandraCluster({
        dir: path.join(infra.LOCAL, 'data', 'cassandra-cluster'), addresses, nativePort: opts.cassandraPort,
        storagePort: opts.cassandraStoragePort, heapMb: Number(process.env.CASSANDRA_HEAP_MB ?? 1024),
      });
      started.push(cassandra);
      process.env.CHAT_CASSANDRA_CONTACT_POINTS = cassandra.contactPoints.join(',');
      process.env.CHAT_CASSANDRA_REPLICATION_FACTOR ??= String(Math.min(3, opts.cassandraNodes));
      describe.push(`Cassandra contact points: CHAT_CASSANDRA_CONTACT_POINTS=${process.env.CHAT_CASSANDRA_CONTACT_POINTS} `
        + `(keyspace at RF ${process.env.CHAT_CASSANDRA_REPLICATION_FACTOR})`);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { stopAll, describe };
}

/** A pino-pretty stream to our stderr: one per child (a piped source ends its destination). */
function prettyLog(messageFormat = '{msg}') {
  // eslint-disable-next-line global-require
  const pretty = require('pino-pretty');
  return pretty({
    colorize: Boolean(process.stderr.isTTY), destination: 2, sync: true,
    translateTime: 'SYS:HH:MM:ss.l', ignore: 'nodeId', messageFormat,
  });
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['inherit', 'inherit', 'pipe'] });
    c.stderr.pipe(prettyLog());
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(args[0])} exited with ${code}`))));
  });
}

infra.runMain('npm start', main);
