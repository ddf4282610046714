'use strict';
/**
 * Local infrastructure for development and tests: installs and runs Redis (./redis.js) and Cassandra
 * (./cassandra.js) on loopback, with everything they write under the git-ignored `.local/` folder;
 * ports, npm packages, the build, and bringing the local stack up for `npm start`.
 *
 * Node built-ins only, so that it works before `npm install` has run.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { log, SetupError, runMain, aptInstall, waitFor, stopChild, canListen } = require('./process');
const cassandra = require('./cassandra');
const redisServer = require('./redis');

const ROOT = path.resolve(__dirname, '..', '..');
const LOCAL = path.join(ROOT, '.local');

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
    } else if (!(await redisServer.redisAnswers(redis.host, redis.port))) {
      if (!isLoopback(redis.host)) throw new SetupError(`Redis at ${config.redis.url} does not answer`);
      redisServer.ensureRedisInstalled();
      log(`starting Redis on 127.0.0.1:${redis.port} (data in .local/data/redis)`);
      started.push(await redisServer.startRedis({ port: redis.port, dir: path.join(LOCAL, 'data', 'redis'), persist: true }));
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
  ROOT, LOCAL, log, SetupError, runMain, freePort, waitFor, stopChild,
  ensureNodeModules, ensureChromiumInstalled, chromiumPath, ensureFaketimeInstalled, FAKETIME_LIB, build,
  portFreeOn,
  ...redisServer,
  cassandraVersion: cassandra.VERSION, cassandraAnswers: cassandra.cassandraAnswers, ensureJavaInstalled: cassandra.ensureJavaInstalled,
  ensureCassandraInstalled: cassandra.ensureCassandraInstalled, startCassandra: cassandra.startCassandra,
  startCassandraCluster: cassandra.startCassandraCluster, waitAllUp: cassandra.waitAllUp,
};
