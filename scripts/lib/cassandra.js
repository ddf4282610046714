'use strict';
/**
 * The embedded Apache Cassandra for development, tests and the bench: fetched from Maven Central
 * (cassandra-all and its runtime dependencies, version pinned in ops/cassandra/pom.xml, every jar
 * checked against ops/cassandra/jars.sha256) into .local/cassandra-<version>/, and run as
 * CassandraDaemon on Java 17 with a cassandra.yaml and logback.xml written here. Why each setting
 * is what it is: docs/ARCHITECTURE.md, "The embedded Cassandra".
 *
 * Node built-ins only. `node scripts/lib/cassandra.js lock` rewrites jars.sha256 from a fresh fetch.
 */
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { log, SetupError, hasCommand, aptInstall, probe, waitFor, stopChild, assertPortsFree } = require('./process');

const ROOT = path.resolve(__dirname, '..', '..');
const LOCAL = path.join(ROOT, '.local');
const OPS = path.join(ROOT, 'ops', 'cassandra');
const POM = path.join(OPS, 'pom.xml');
const LOCK = path.join(OPS, 'jars.sha256');
const VERSION = /<cassandra\.version>([^<]+)<\/cassandra\.version>/.exec(fs.readFileSync(POM, 'utf8'))[1];
const HOME = path.join(LOCAL, `cassandra-${VERSION}`);
const LIB = path.join(HOME, 'lib');
/** Maven's own repository (its plugins, and the jars before they are copied to LIB). */
const MAVEN_REPO = path.join(LOCAL, 'maven');
/** Written into every data directory this version started on (a directory without it is from the 2.1 path). */
const DATA_MARKER = 'CASSANDRA_VERSION';

const JVM_OPTIONS = fs.readFileSync(path.join(OPS, 'jvm17-server.options'), 'utf8')
  .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  .flatMap((l) => (l.startsWith('--add-') ? l.split(/\s+/) : [l]));

const NO_FETCH = 'point CHAT_CASSANDRA_CONTACT_POINTS at a running Cassandra (4.1 or 5.0) instead';

function ensureJavaInstalled() {
  if (!hasCommand('java')) aptInstall(['openjdk-17-jre-headless']);
  const v = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const major = Number(/version "(\d+)/.exec(v.stderr)?.[1]);
  if (!(major >= 17)) throw new SetupError(`Cassandra ${VERSION} needs Java 17 or newer; \`java -version\` says ${major || 'nothing'} (apt-get install -y openjdk-17-jre-headless)`);
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Runs Maven's copy-dependencies for the pinned pom into `dest`; false (its output in `logFile`) when it fails. */
function mavenFetch(dest, mavenRepo, logFile) {
  if (!hasCommand('mvn')) aptInstall(['maven']);
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const args = ['-B', '-q', '-f', POM, `-Dmaven.repo.local=${mavenRepo}`,
    'dependency:copy-dependencies', `-DoutputDirectory=${dest}`, '-DincludeScope=runtime'];
  // MAVEN_MIRROR_URL: a mirror of Maven Central (a company proxy), through a settings file of its own.
  if (process.env.MAVEN_MIRROR_URL) {
    const settings = path.join(path.dirname(logFile), 'maven-settings.xml');
    fs.writeFileSync(settings, `<settings><mirrors><mirror><id>mirror</id><mirrorOf>*</mirrorOf><url>${process.env.MAVEN_MIRROR_URL}</url></mirror></mirrors></settings>\n`);
    args.unshift('-s', settings);
  }
  const r = spawnSync('mvn', args, { encoding: 'utf8', env: { ...process.env, MAVEN_OPTS: process.env.MAVEN_OPTS ?? '-Xmx512m' } });
  fs.writeFileSync(logFile, `$ mvn ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  return r.status === 0;
}

/** The pinned hashes: { 'cassandra-all-5.0.9.jar': 'ab12…', … }. */
function pinned() {
  return Object.fromEntries(fs.readFileSync(LOCK, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
    .map((l) => { const [hash, name] = l.trim().split(/\s+/); return [name, hash]; }));
}

/**
 * Fetches Cassandra (once; .local/ keeps it) and checks every jar against its pinned hash: the set
 * of jars must be exactly the pinned one. Throws a one-line SetupError when Maven Central cannot
 * be reached or a hash differs.
 */
function ensureCassandraInstalled({ home = HOME, mavenRepo = MAVEN_REPO } = {}) {
  ensureJavaInstalled();
  const lib = path.join(home, 'lib');
  // Written once every jar matched its pinned hash; its absence means "fetch (again)".
  const verified = path.join(home, '.verified');
  // The Cassandra 2.1 that earlier releases unpacked from the npm registry: no longer used.
  const old = path.join(LOCAL, 'cassandra', 'apache-cassandra-2.1.0');
  if (home === HOME && fs.existsSync(old)) {
    fs.rmSync(path.dirname(old), { recursive: true, force: true });
    log('removed .local/cassandra (Cassandra 2.1, no longer used)');
  }
  if (fs.existsSync(verified)) return;
  const started = Date.now();
  const tmp = `${lib}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  log(`fetching Apache Cassandra ${VERSION} from Maven Central (cassandra-all and its dependencies, about 70 MB)`);
  const logFile = path.join(home, 'fetch.log');
  if (!mavenFetch(tmp, mavenRepo, logFile)) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new SetupError(`could not fetch Apache Cassandra ${VERSION} from Maven Central (Maven's output: ${path.relative(process.cwd(), logFile)}); `
      + `to run without it, ${NO_FETCH}`);
  }
  const want = pinned();
  const got = fs.readdirSync(tmp).filter((f) => f.endsWith('.jar'));
  const problems = [];
  for (const name of got) {
    if (!(name in want)) problems.push(`${name} is not pinned`);
    else if (sha256(path.join(tmp, name)) !== want[name]) problems.push(`${name} does not match its pinned sha256`);
  }
  for (const name of Object.keys(want)) if (!got.includes(name)) problems.push(`${name} was not fetched`);
  if (problems.length) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new SetupError(`Apache Cassandra ${VERSION} from Maven Central failed its check against ops/cassandra/jars.sha256: ${problems.slice(0, 3).join('; ')}`);
  }
  fs.rmSync(lib, { recursive: true, force: true });
  fs.renameSync(tmp, lib);
  fs.writeFileSync(verified, `${got.length} jars matched ops/cassandra/jars.sha256 on ${new Date().toISOString()}\n`);
  log(`Cassandra ${VERSION} installed in ${path.relative(ROOT, home)} (${got.length} jars checked) in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Rewrites jars.sha256 from a fresh fetch (after a version change in pom.xml). */
function writeLock() {
  const tmp = fs.mkdtempSync(path.join(LOCAL, 'cassandra-lock-'));
  try {
    if (!mavenFetch(tmp, MAVEN_REPO, path.join(LOCAL, 'cassandra-lock.log'))) throw new SetupError('mvn failed; see .local/cassandra-lock.log');
    const lines = fs.readdirSync(tmp).filter((f) => f.endsWith('.jar')).sort().map((f) => `${sha256(path.join(tmp, f))}  ${f}`);
    fs.writeFileSync(LOCK, `# sha256 of every jar of Apache Cassandra ${VERSION} (cassandra-all and its runtime dependencies), from Maven Central\n${lines.join('\n')}\n`);
    log(`wrote ${path.relative(ROOT, LOCK)}: ${lines.length} jars`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function cassandraAnswers(host, port) {
  // A CQL v4 OPTIONS frame; any SUPPORTED (opcode 0x06) answer means the native transport is up.
  const r = await probe(host, port, Buffer.from([0x04, 0x00, 0x00, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00]));
  return r !== null && r.length >= 5 && r[4] === 0x06;
}

const LOGBACK = `<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>\${cassandra.logdir}/system.log</file>
    <encoder><pattern>%-5level %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE" /></root>
</configuration>
`;

/**
 * cassandra.yaml for one node (YAML is a superset of JSON, so it is written as JSON). Sized for a
 * 2-core machine that also runs the chat nodes and Redis; docs/ARCHITECTURE.md says why.
 */
function yamlConfig({ dir, clusterName, address, seeds, nativePort, storagePort, joinAtOnce, memtableMb }) {
  return {
    cluster_name: clusterName,
    num_tokens: 16,
    partitioner: 'org.apache.cassandra.dht.Murmur3Partitioner',
    endpoint_snitch: 'SimpleSnitch',
    listen_address: address,
    rpc_address: address,
    native_transport_port: nativePort,
    storage_port: storagePort,
    start_native_transport: true,
    seed_provider: [{ class_name: 'org.apache.cassandra.locator.SimpleSeedProvider', parameters: [{ seeds: seeds.map((s) => `${s}:${storagePort}`).join(',') }] }],
    // A node of a new, empty cluster has nothing to stream: it takes its tokens and serves at once.
    ...(joinAtOnce ? { auto_bootstrap: false } : {}),
    data_file_directories: [path.join(dir, 'data')],
    commitlog_directory: path.join(dir, 'commitlog'),
    saved_caches_directory: path.join(dir, 'saved_caches'),
    hints_directory: path.join(dir, 'hints'),
    cdc_raw_directory: path.join(dir, 'cdc_raw'),
    // The 5.0 formats (a new cluster has no older nodes to stay readable for): trie-indexed SSTables,
    // trie memtables, unified compaction, and Paxos v2 (LWTs in about half the round trips).
    storage_compatibility_mode: 'NONE',
    sstable: { selected_format: 'bti' },
    memtable: { configurations: { default: { class_name: 'TrieMemtable' } } },
    default_compaction: { class_name: 'UnifiedCompactionStrategy', parameters: { scaling_parameters: 'T4', target_sstable_size: '256MiB' } },
    paxos_variant: 'v2',
    // Memtables off the Java heap (less to collect), bounded so a write burst flushes instead of growing.
    memtable_allocation_type: 'offheap_objects',
    memtable_heap_space: `${Math.round(memtableMb / 2)}MiB`,
    memtable_offheap_space: `${memtableMb}MiB`,
    // Two cores: more threads than this only queue on the CPU (Cassandra's rule: 8 per core for writes).
    concurrent_writes: 16,
    concurrent_reads: 16,
    concurrent_counter_writes: 8,
    concurrent_compactors: 1,
    // Periodic commit-log sync: a write is acked once in the commit log (the OS page cache), fsynced
    // every 10 s; a process crash loses nothing, a machine crash may lose the last 10 s of one node
    // (replicas at RF 3 cover it). The write path's own guarantees: docs/ARCHITECTURE.md.
    commitlog_sync: 'periodic',
    commitlog_sync_period: '10000ms',
    // Our write batches are up to 40 KB (src/store/cassandra/WriteBatcher.ts): no warning per batch, and no refusal.
    batch_size_warn_threshold: '64KiB',
    batch_size_fail_threshold: '128KiB',
    // Tests create and drop a keyspace per run: no snapshot kept for each drop.
    auto_snapshot: false,
    // Nothing here uses materialized views (5.0 marks them experimental).
    materialized_views_enabled: false,
  };
}

/** A data directory written by the 2.1 path (no version marker): moved aside, since 5.0 cannot read 2.1's files. */
function retireOldData(dir) {
  if (!fs.existsSync(dir) || fs.existsSync(path.join(dir, DATA_MARKER))) return;
  if (!fs.readdirSync(dir).length) return;
  const aside = `${dir}-2.1-${new Date().toISOString().slice(0, 10)}`;
  fs.renameSync(dir, aside);
  log(`${path.relative(ROOT, dir)} held Cassandra 2.1 data, which ${VERSION} cannot read (SSTable format ka); kept in ${path.relative(ROOT, aside)}, starting empty`);
}

/**
 * Starts Cassandra on `address` in a child process, data in `dir`. Ports are parameters so that
 * a test run and the dev cluster can run side by side; a port already taken fails at once.
 */
async function startCassandra({ dir, nativePort, storagePort, clusterName = 'streamchat', heapMb = 1024,
  address = '127.0.0.1', seeds = [address], joinAtOnce = false }) {
  ensureCassandraInstalled();
  await assertPortsFree(address, { native: nativePort, storage: storagePort }, `Cassandra on ${address}`,
    'choose other ports (--cassandra-port, --cassandra-storage-port; CASSANDRA_STORAGE_PORT)');
  retireOldData(dir);
  for (const d of ['data', 'commitlog', 'saved_caches', 'hints', 'cdc_raw', 'log']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(path.join(dir, DATA_MARKER), `${VERSION}\n`);
  // A quarter of the heap for memtables (Cassandra's default), off-heap.
  const conf = yamlConfig({ dir, clusterName, address, seeds, nativePort, storagePort, joinAtOnce, memtableMb: Math.round(heapMb / 4) });
  const yamlFile = path.join(dir, 'cassandra.yaml');
  fs.writeFileSync(yamlFile, JSON.stringify(conf, null, 1));
  const logbackFile = path.join(dir, 'logback.xml');
  fs.writeFileSync(logbackFile, LOGBACK);
  const outFile = path.join(dir, 'log', 'stdout.log');
  const out = fs.openSync(outFile, 'a');
  const args = [
    ...JVM_OPTIONS,
    `-Xms${heapMb}m`, `-Xmx${heapMb}m`, '-Xss256k',
    // G1 with a pause goal well under the chat p99 (pauses of a 1 GiB heap meet it), on the 2 cores there are.
    '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:ParallelGCThreads=2', '-XX:ConcGCThreads=1',
    '-XX:+ParallelRefProcEnabled', '-XX:MaxTenuringThreshold=1', '-XX:G1RSetUpdatingPauseTimePercent=5',
    '-XX:+ExitOnOutOfMemoryError', '-XX:+PerfDisableSharedMem',
    // Every pause in log/gc.log: what the pause goal above achieves is read there, not assumed.
    `-Xlog:gc:file=${path.join(dir, 'log', 'gc.log')}:uptime:filecount=2,filesize=20M`,
    '-Djava.net.preferIPv4Stack=true',
    // A local node needs no 30 s wait for gossip to settle; a new cluster's nodes join at once.
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    ...(joinAtOnce ? ['-Dcassandra.ring_delay_ms=1000'] : []),
    `-Dcassandra.config=file://${yamlFile}`,
    '-Dcassandra-foreground=yes',
    `-Dcassandra.storagedir=${dir}`,
    `-Dcassandra.logdir=${path.join(dir, 'log')}`,
    `-Dlogback.configurationFile=${logbackFile}`,
    '-cp', path.join(LIB, '*'),
    'org.apache.cassandra.service.CassandraDaemon',
  ];
  const child = spawn('java', args, { stdio: ['ignore', out, out], cwd: dir, detached: true });
  fs.closeSync(out);
  const logFile = path.join(dir, 'log', 'system.log');
  await waitFor(`Cassandra on ${address}:${nativePort}`, () => cassandraAnswers(address, nativePort), { timeoutMs: 120000, child, logFile });
  return {
    address, nativePort, storagePort, child, logFile,
    stop: () => stopChild(child, 'Cassandra', 60000),
    /** A crash: SIGKILL, no flush (the commit log replays on the next start). */
    kill: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

/** Resolves once each node's log says every other node is UP (gossip: they can all reach each other). */
async function waitAllUp(nodes, timeoutMs = 120000) {
  await waitFor('the Cassandra nodes to see each other', () => nodes.every((n) => {
    const text = fs.existsSync(n.logFile) ? fs.readFileSync(n.logFile, 'utf8') : '';
    return nodes.every((o) => o === n || text.includes(`/${o.address}:${o.storagePort} is now UP`));
  }), { timeoutMs });
}

/**
 * A cluster of one node per address (127.0.0.1, 127.0.0.2, …), all on the same ports: the first is
 * the seed and starts first, the others join it at once (an empty cluster). Data in `dir/<address>`.
 * Every port is checked on every address before anything starts; stops what it started if one fails.
 */
async function startCassandraCluster({ dir, addresses, nativePort, storagePort, clusterName = 'streamchat', heapMb = 768 }) {
  ensureCassandraInstalled();
  for (const address of addresses) {
    await assertPortsFree(address, { native: nativePort, storage: storagePort }, `Cassandra on ${address}`,
      'choose other ports (--cassandra-port, --cassandra-storage-port)');
  }
  const seeds = [addresses[0]];
  const start = (address) => startCassandra({
    dir: path.join(dir, address), address, seeds, joinAtOnce: true, nativePort, storagePort, clusterName, heapMb,
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

module.exports = {
  VERSION, HOME, ensureJavaInstalled, ensureCassandraInstalled, cassandraAnswers, startCassandra, startCassandraCluster, waitAllUp, NO_FETCH,
};

if (require.main === module) {
  // node scripts/lib/cassandra.js lock | install [home mavenRepo]
  const { runMain } = require('./process');
  const [cmd, home, mavenRepo] = process.argv.slice(2);
  runMain(`cassandra ${cmd}`, () => (cmd === 'lock' ? writeLock()
    : ensureCassandraInstalled({ ...(home ? { home } : {}), ...(mavenRepo ? { mavenRepo } : {}) })));
}
