'use strict';
/**
 * Redis on loopback for development and tests: one redis-server, or a Redis Cluster of masters
 * with a replica each, with their files under the folder given. Node built-ins only (it runs before
 * `npm install`).
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { hasCommand, aptInstall, probe, waitFor, stopChild } = require('./process');

function ensureRedisInstalled() {
  if (!hasCommand('redis-server')) aptInstall(['redis-server']);
}

async function redisAnswers(host, port) {
  const r = await probe(host, port, 'PING\r\n');
  return r !== null && r.toString().startsWith('+PONG');
}

/**
 * Starts redis-server on 127.0.0.1:port with its files in `dir`.
 * `persist` turns on the append-only file (the dev cluster keeps its data; tests do not).
 */
async function startRedis({ port, dir, persist }) {
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'redis.log');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', logFile,
    '--save', '', '--appendonly', persist ? 'yes' : 'no', '--protected-mode', 'yes', '--daemonize', 'no'];
  // detached: a terminal Ctrl-C reaches only our script, which then stops things in order.
  const child = spawn('redis-server', args, { stdio: 'ignore', detached: true });
  await waitFor(`redis-server on port ${port}`, () => redisAnswers('127.0.0.1', port), { timeoutMs: 15000, child, logFile });
  return { port, child, stop: () => stopChild(child, 'redis-server') };
}

/** Runs redis-cli against one node and returns its output. */
function redisCli(port, ...args) {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
}

/**
 * A Redis Cluster on 127.0.0.1: `ports.length / 2` masters with one replica each (ports in pairs of
 * master, replica as redis-cli assigns them), bus ports given (the default, port + 10000, may be
 * taken or out of range). `nodeTimeoutMs` is how long a master may be silent before its replica takes
 * over. Data (no persistence) in `dir/<port>`. Waits until every slot is served and every replica
 * is in sync.
 */
async function startRedisCluster({ dir, ports, busPorts, nodeTimeoutMs = 2000 }) {
  ensureRedisInstalled();
  const servers = [];
  const create = async () => {
    for (const port of ports) fs.rmSync(path.join(dir, String(port)), { recursive: true, force: true });
    await Promise.all(ports.map(async (port, i) => {
      servers[i] = await startClusterRedis({ dir, port, busPort: busPorts[i], nodeTimeoutMs });
    }));
    execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
      { stdio: 'ignore' });
    await waitFor('the Redis Cluster to serve every slot with replicas in sync', () => clusterReady(ports), { timeoutMs: 30000 });
  };
  const stop = () => Promise.all(servers.filter(Boolean).map((s) => s.stop()));
  try {
    await create();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    ports, servers, seeds: ports.map((p) => `127.0.0.1:${p}`),
    /** Ports of the current masters, and the replica of each (from CLUSTER NODES). */
    masters: () => {
      for (const port of ports) {
        try {
          return clusterMasters(port);
        } catch {
          // that node is down: ask another
        }
      }
      throw new Error('no node of the Redis Cluster answers');
    },
    /** Every node stopped and the cluster created again, empty (a restart without its data). */
    restartEmpty: async () => {
      await stop();
      await create();
    },
    stop,
  };
}

/**
 * One Redis Cluster node on 127.0.0.1:port, files in `dir/<port>`. Started again on the same
 * directory, it rejoins its cluster (nodes.conf), as a replica if its slots moved meanwhile.
 */
async function startClusterRedis({ dir, port, busPort, nodeTimeoutMs }) {
  const nodeDir = path.join(dir, String(port));
  fs.mkdirSync(nodeDir, { recursive: true });
  const logFile = path.join(nodeDir, 'redis.log');
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--logfile', logFile,
    '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no',
    '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort),
    '--cluster-node-timeout', String(nodeTimeoutMs),
    // A master down stops its own slots only, not the whole cluster.
    '--cluster-require-full-coverage', 'no'], { stdio: 'ignore', detached: true });
  await waitFor(`redis-server on port ${port}`, () => redisAnswers('127.0.0.1', port), { timeoutMs: 15000, child, logFile });
  return { port, child, stop: () => stopChild(child, 'redis-server') };
}

/** The masters a node of the cluster knows, each with its replica's port (null while it has none): [{id, port, replicaPort}]. */
function clusterMasters(anyPort) {
  const nodes = redisCli(anyPort, 'cluster', 'nodes').trim().split('\n').map((line) => {
    const [id, addr, flags, masterId] = line.split(' ');
    return { id, port: Number(addr.split('@')[0].split(':').pop()), flags: flags.split(','), masterId };
  });
  const up = (n) => !n.flags.includes('fail') && !n.flags.includes('fail?');
  return nodes.filter((n) => n.flags.includes('master') && up(n)).map((m) => ({
    id: m.id, port: m.port, replicaPort: nodes.find((r) => r.masterId === m.id && up(r))?.port ?? null,
  }));
}

/** Every node says cluster_state:ok, and every replica's link to its master is up. */
async function clusterReady(ports) {
  try {
    for (const port of ports) {
      if (!redisCli(port, 'cluster', 'info').includes('cluster_state:ok')) return false;
      const repl = redisCli(port, 'info', 'replication');
      if (repl.includes('role:slave') && !repl.includes('master_link_status:up')) return false;
    }
    const masters = clusterMasters(ports[0]);
    return masters.length === ports.length / 2 && masters.every((m) => m.replicaPort !== null);
  } catch {
    return false;
  }
}

module.exports = { ensureRedisInstalled, redisAnswers, startRedis, redisCli, startRedisCluster, startClusterRedis, clusterMasters, clusterReady };
