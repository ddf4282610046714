'use strict';
/**
 * Local infrastructure for development and tests: installs and runs Redis and Cassandra
 * on loopback, with everything they write under the git-ignored `.local/` folder.
 *
 * Node built-ins only, so that it works before `npm install` has run.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { log, SetupError, runMain, hasCommand, aptInstall, probe, waitFor, stopChild, canListen } = require('./process');
const cassandra = require('./cassandra');

const ROOT = path.resolve(__dirname, '..', '..');
const LOCAL = path.join(ROOT, '.local');

function ensureRedisInstalled() {
  if (!hasCommand('redis-server')) aptInstall(['redis-server']);
}

/** Debian's chromium, which the browser tests drive with playwright-core (its own browser downloads do not work here). */
function chromiumPath() {
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // not this name
    }
  }
  return null;
}

function ensureChromiumInstalled() {
  if (!chromiumPath()) aptInstall(['chromium']);
  return chromiumPath();
}

/** Debian's libfaketime (LD_PRELOAD), for nodes started with a skewed clock. */
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
function ensureFaketimeInstalled() {
  if (!fs.existsSync(FAKETIME_LIB)) aptInstall(['faketime']);
  return FAKETIME_LIB;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A TCP port free on every one of `addresses` (Cassandra nodes of one cluster share their ports, each on its own address). */
async function portFreeOn(addresses) {
  for (;;) {
    const port = await freePort();
    const free = await Promise.all(addresses.map((host) => canListen(host, port)));
    if (free.every(Boolean)) return port;
  }
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

/** Runs `npm ci` (or `npm install` without a lock file) when node_modules is missing or stale. */
function ensureNodeModules() {
  const lock = path.join(ROOT, 'package-lock.json');
  const marker = path.join(ROOT, 'node_modules', '.package-lock.json');
  const stale = !fs.existsSync(marker) || (fs.existsSync(lock) && fs.statSync(lock).mtimeMs > fs.statSync(marker).mtimeMs);
  if (!stale) return;
  const cmd = fs.existsSync(lock) ? 'ci' : 'install';
  log(`npm ${cmd}`);
  execFileSync('npm', [cmd, '--no-audit', '--no-fund'], { cwd: ROOT, stdio: 'inherit' });
}

function build() {
  log('npm run build');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
}

function hostPort(s, defPort) {
  const m = /^(?:[a-z]+:\/\/)?(?:[^@/]*@)?([^:/]+):?(\d+)?/.exec(s);
  return { host: m[1], port: Number(m[2] ?? defPort) };
}

const isLoopback = (h) => h === 'localhost' || h.startsWith('127.');

/**
 * Makes sure the Redis and Cassandra named in `config` answer: reuses what already answers there,
 * otherwise (on loopback) installs and starts them with their data under .local/data.
 * Returns the handles of what it started, to stop later (most recent last).
 */
async function bringUpLocal(config, want = { redis: true, cassandra: true }) {
  const started = [];
  const stopAll = async () => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    const redis = hostPort(config.redis.url, 6379);
    if (!want.redis || config.redis.clusterNodes.length > 0) {
      // a Redis Cluster: its seeds are checked by the nodes themselves
    } else if (!(await redisAnswers(redis.host, redis.port))) {
      if (!isLoopback(redis.host)) throw new SetupError(`Redis at ${config.redis.url} does not answer`);
      ensureRedisInstalled();
      log(`starting Redis on 127.0.0.1:${redis.port} (data in .local/data/redis)`);
      started.push(await startRedis({ port: redis.port, dir: path.join(LOCAL, 'data', 'redis'), persist: true }));
    } else log(`using the Redis already answering at ${redis.host}:${redis.port}`);

    const cas = hostPort(config.cassandra.contactPoints[0], 9042);
    if (!want.cassandra) {
      // started by the caller
    } else if (!(await cassandra.cassandraAnswers(cas.host, cas.port))) {
      if (!isLoopback(cas.host)) throw new SetupError(`Cassandra at ${cas.host}:${cas.port} does not answer`);
      cassandra.ensureCassandraInstalled();
      log(`starting Cassandra ${cassandra.VERSION} on 127.0.0.1:${cas.port} (data in .local/data/cassandra; takes ~15 s)`);
      started.push(await cassandra.startCassandra({
        dir: path.join(LOCAL, 'data', 'cassandra'), nativePort: cas.port, storagePort: Number(process.env.CASSANDRA_STORAGE_PORT ?? 7000),
        heapMb: Number(process.env.CASSANDRA_HEAP_MB ?? 2048),
      }));
    } else log(`using the Cassandra already answering at ${cas.host}:${cas.port}`);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { started, stopAll, redis: hostPort(config.redis.url, 6379), cassandra: hostPort(config.cassandra.contactPoints[0], 9042) };
}

module.exports = {
  bringUpLocal,
  ROOT, LOCAL, log, SetupError, runMain, freePort, redisAnswers, waitFor, stopChild,
  ensureNodeModules, ensureRedisInstalled, ensureChromiumInstalled, chromiumPath, ensureFaketimeInstalled, FAKETIME_LIB, build,
  startRedis, startRedisCluster, startClusterRedis, clusterMasters, clusterReady, redisCli, portFreeOn,
  cassandraVersion: cassandra.VERSION, cassandraAnswers: cassandra.cassandraAnswers, ensureJavaInstalled: cassandra.ensureJavaInstalled,
  ensureCassandraInstalled: cassandra.ensureCassandraInstalled, startCassandra: cassandra.startCassandra,
  startCassandraCluster: cassandra.startCassandraCluster, waitAllUp: cassandra.waitAllUp,
};
