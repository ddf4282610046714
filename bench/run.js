#!/usr/bin/env node
'use strict';
/**
 * npm run bench: brings up (or reuses) the local Redis and Cassandra, starts a 2-node cluster from
 * dist/main.js, drives it with separate load-generator processes (bench/loadgen.js), then does the
 * same against the peer (Socket.IO 4 + Redis Streams adapter). Writes bench/results/<date>.json,
 * bench/results/<date>.md, bench/results/latency.svg, and the table in docs/BENCHMARKS.md.
 *
 *   npm run bench              the full suite (about 15 minutes here)
 *   npm run bench -- --quick   one short run per scenario (to try the harness)
 *   npm run bench -- --only rate   just our 1:1 rate points
 *   npm run bench -- --only groups just our group fan-out points
 *   npm run bench -- --only ours   all of our scenarios, no peer; written to bench/results/<date>-ours.*
 * A run that fails part-way writes what it measured so far to bench/results/<date>-partial.json.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const infra = require('../scripts/lib/infra');
const { median } = require('./lib/accounting');
const { latencyChart } = require('./lib/chart');

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const QUICK = args.quick;
/** `--only rate` (or `groups`) runs just our 1:1 rate (or group fan-out) points, for trying a change; nothing is written. */
const ONLY = args.only ?? null;
if (ONLY !== null && !['rate', 'groups', 'ours'].includes(ONLY)) throw new Error(`--only takes rate, groups or ours, not ${ONLY}`);
const RUNS = QUICK ? 1 : 3;
const MEASURE_MS = QUICK ? 4000 : 8000;
/** Devices per user in the idle scenario (bench/loadgen.js); the bench's nodes allow that many sockets per user. */
const IDLE_DEVICES_PER_USER = 100;
const RATES = (process.env.BENCH_RATES ?? '1000,2000,5000').split(',').map(Number);
const ROOT = infra.ROOT;
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const log = (m) => process.stdout.write(`[bench] ${m}\n`);

// ---- processes and their CPU ---------------------------------------------------------------

const CLK_TCK = 100;
function cpuSeconds(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}
function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : null;
}
/** CPU used by each named process between start() and stop(), as % of one core. */
function cpuMeter(procs) {
  const t0 = Date.now();
  const c0 = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuSeconds(pid)]));
  return () => {
    const wall = (Date.now() - t0) / 1000;
    return Object.fromEntries(Object.entries(procs).map(([k, pid]) => {
      const c1 = cpuSeconds(pid);
      return [k, c1 === null || c0[k] === null ? null : Math.round(((c1 - c0[k]) / wall) * 100)];
    }));
  };
}

/** The pid of the process whose executable (argv[0]) or main class matches, and whose command line has `also`. */
function pidOf(pattern, also = '') {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      // (redis-server rewrites its title to "redis-server host:port")
      const match = path.basename(argv[0].split(' ')[0]) === pattern || argv.includes(`org.apache.cassandra.service.${pattern}`);
      if (match && argv.join(' ').includes(also)) return Number(d);
    } catch { /* gone */ }
  }
  return null;
}

/** Where each process's own log goes (node and peer servers): .local/bench-logs/<run>-<name>.log. */
const LOG_DIR = path.join(infra.LOCAL, 'bench-logs');

/** Starts a process and resolves once `isReady(line)` holds for a line of its stderr. */
function startProcess(args, env, isReady, name) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const logFile = fs.createWriteStream(path.join(LOG_DIR, `${stamp}-${name}.log`), { flags: 'a' });
  child.stderr.pipe(logFile);
  let out = '';
  let scanned = 0;
  let ready = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${out}`)), 60000);
    child.stderr.on('data', (d) => {
      if (ready) return;
      out += d;
      for (let nl; !ready && (nl = out.indexOf('\n', scanned)) >= 0;) {
        const line = out.slice(scanned, nl);
        scanned = nl + 1;
        if (isReady(line)) {
          ready = true;
          clearTimeout(timer);
          resolve(child);
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

/** Runs one load-generator process; resolves with its result and the CPU each process used. */
function loadgen(scenario, args, procs) {
  const child = spawn(process.execPath, [path.join(__dirname, 'loadgen.js'), scenario, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
  // CPU is measured over the load window only (set-up traffic, signups and so on, is left out).
  let meter = cpuMeter({ ...procs, loadgen: child.pid });
  let cpu = null;
  let buf = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\n')) >= 0;) {
        const line = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (line.phase === 'window-start') meter = cpuMeter({ ...procs, loadgen: child.pid });
        if (line.phase === 'window-end') cpu = meter();
        if (line.phase === 'result') resolve({ ...line.result, cpuPercent: cpu ?? meter() });
        if (line.phase === 'error') reject(new Error(line.error));
      }
    });
    child.once('exit', (code) => code !== 0 && reject(new Error(`loadgen ${scenario} exited ${code}`)));
  });
}

// ---- systems under test --------------------------------------------------------------------

/** A node's log is JSON lines (pino); it is up once it logged "node started". */
function nodeStarted(line) {
  if (!line.startsWith('{')) return false;
  return JSON.parse(line).msg === 'node started';
}

async function startOurs(config, prefix, keyspace) {
  const env = {
    CHAT_CASSANDRA_KEYSPACE: keyspace, CHAT_REDIS_KEY_PREFIX: prefix, CHAT_AUTH_BCRYPT_ROUNDS: '4',
    CHAT_WS_MAX_FRAMES_PER_SECOND: '100000', CHAT_RATE_LIMIT_ENABLED: 'false', CHAT_LOG_LEVEL: 'warn',
    // The idle scenario connects 100 devices per user (the default allows 20 sockets per user).
    CHAT_WS_MAX_CONNECTIONS_PER_USER: String(IDLE_DEVICES_PER_USER),
  };
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const port = await infra.freePort();
    // BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the nodes.
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = await startProcess([...nodeArgs, path.join(ROOT, 'dist', 'main.js'), String(port)], { ...env, CHAT_LOG_LEVEL: 'info' }, nodeStarted, `node${i}`);
    nodes.push({ child, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws` });
  }
  return nodes;
}

async function startPeer(redisUrl) {
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const port = await infra.freePort();
    const child = await startProcess([path.join(__dirname, 'peer', 'server.js'), String(port), redisUrl, stamp], {}, (line) => line.startsWith('peer listening'), `peer${i}`);
    nodes.push({ child, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` });
  }
  return nodes;
}

/** Each node's GET /metrics after the run (its histograms hold the run's traffic): bench/results/metrics-node<i>.prom. */
async function saveMetrics(nodes) {
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  await Promise.all(nodes.map(async (n, i) => {
    const res = await fetch(`${n.url}/metrics`);
    fs.writeFileSync(path.join(dir, `metrics-node${i}.prom`), await res.text());
  }));
  log(`metrics of each node in bench/results/metrics-node<i>.prom`);
}

async function stopAll(nodes) {
  await Promise.all(nodes.map((n) => infra.stopChild(n.child, 'node', 20000)));
}

// ---- scenarios -----------------------------------------------------------------------------

async function runs(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

/** The median run by a key (the run itself, so its figures belong together). */
function medianRun(results, key) {
  const m = median(results.map(key));
  return results.find((r) => key(r) === m);
}

async function rateSuite(target, nodes, procs, cassandra) {
  log(`${target}: warm-up run (not counted)`);
  await loadgen('rate', { target, nodes, rate: 2000, pairs: 500, warmupMs: 2000, durationMs: 8000, cassandra }, procs);
  const out = [];
  for (const rate of RATES) {
    log(`${target}: 1:1 at ${rate} msg/s x${RUNS}`);
    const rs = await runs(RUNS, () => loadgen('rate', { target, nodes, rate, pairs: 500, warmupMs: 2000, durationMs: MEASURE_MS, cassandra }, procs));
    out.push({ rate, median: medianRun(rs, (r) => r.latency.p99 ?? Infinity), runs: rs.map(brief) });
  }
  return out;
}

function brief(r) {
  return { p50: r.latency?.p50, p99: r.latency?.p99, max: r.latency?.max, delivered: r.delivered, lost: r.lost, duplicated: r.duplicated, failed: r.failed, errors: r.errors, persisted: r.persisted };
}

async function groupSuite(target, nodes, procs, cassandra) {
  const out = [];
  // 100 members at 600 msg/s offer 59,400 deliveries/s (the goal is 50,000: 500 msg/s could offer at most 49,500).
  for (const [size, groups, rate] of [[10, 50, 1000], [100, 5, 600]]) {
    log(`${target}: groups of ${size} at ${rate} msg/s x${RUNS}`);
    const rs = await runs(RUNS, () => loadgen('group', { target, nodes, size, groups, rate, durationMs: MEASURE_MS, cassandra }, procs));
    out.push({ size, groups, rate, median: medianRun(rs, (r) => r.deliveriesPerSecond), runs: rs.map((r) => ({ ...brief(r), deliveriesPerSecond: r.deliveriesPerSecond })) });
  }
  return out;
}

/** Idle connections on one node, from several load-generator processes (a process may hold 20,000 files). */
async function idleSuite(nodes, target) {
  const total = QUICK ? 4000 : 19000;
  const procsN = 4;
  const node = nodes[0];
  const children = [];
  for (let i = 0; i < procsN; i++) {
    const child = spawn(process.execPath, [path.join(__dirname, 'loadgen.js'), 'idle', JSON.stringify({
      target, nodes, count: Math.floor(total / procsN), node: 0, localAddress: `127.0.0.${2 + i}`, perUser: IDLE_DEVICES_PER_USER,
    })], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
  }
  const phases = children.map((c) => {
    const waiters = {};
    let buf = '';
    c.stdout.on('data', (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\n')) >= 0;) {
        const line = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        waiters[line.phase]?.(line);
      }
    });
    return (phase) => new Promise((r) => { waiters[phase] = r; });
  });
  await Promise.all(phases.map((p) => p('ready')));
  await new Promise((r) => setTimeout(r, 3000));
  const rss0 = rssKb(node.child.pid);
  const t0 = Date.now();
  const connectedP = phases.map((p) => p('connected'));
  for (const c of children) c.stdin.write('go\n');
  const connected = await Promise.all(connectedP);
  const seconds = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 5000));
  const rss1 = rssKb(node.child.pid);
  const n = connected.reduce((s, c) => s + c.connected, 0);
  for (const c of children) c.stdin.end();
  await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
  const failed = connected.reduce((s, c) => s + c.failed, 0);
  // A refused connection of ours is a harness or product fault, not a smaller figure to print; the
  // peer's are its own result (shown in the table).
  if (failed > 0 && target === 'ours') throw new Error(`${target} idle: ${failed} of ${failed + n} connections refused (${connected.map((c) => c.firstError).filter(Boolean)[0]})`);
  return {
    connections: n, failed, shedAndRetried: connected.reduce((s, c) => s + (c.shed ?? 0), 0), connectSeconds: seconds,
    connectsPerSecond: Math.round(n / seconds), rssBeforeMb: Math.round(rss0 / 1024), rssAfterMb: Math.round(rss1 / 1024),
    kbPerConnection: Math.round(((rss1 - rss0) / n) * 10) / 10,
  };
}

// ---- main ----------------------------------------------------------------------------------

async function main() {
  infra.ensureNodeModules();
  infra.build();
  const { loadConfig } = require(path.join(ROOT, 'dist', 'config', 'config.js'));
  const { createLogger } = require(path.join(ROOT, 'dist', 'log.js'));
  const { runMigrations } = require(path.join(ROOT, 'dist', 'store', 'migrate.js'));
  const base = loadConfig();
  const local = await infra.bringUpLocal(base);
  const keyspace = `bench_${stamp.replace(/-/g, '').toLowerCase().slice(0, 14)}`;
  const prefix = `bench${stamp}:`;
  process.env.CHAT_CASSANDRA_KEYSPACE = keyspace;
  process.env.CHAT_REDIS_KEY_PREFIX = prefix;
  await runMigrations(loadConfig(), createLogger('warn'));
  const cassandra = { contactPoint: base.cassandra.contactPoints[0], keyspace };
  const infraProcs = { cassandra: pidOf('CassandraDaemon', path.join('data', 'cassandra')), redis: pidOf('redis-server', `:${local.redis.port}`) };
  log(`cassandra pid ${infraProcs.cassandra}, redis pid ${infraProcs.redis}`);
  const results = {
    date: new Date().toISOString(), quick: QUICK, runsPerPoint: RUNS, measureSeconds: MEASURE_MS / 1000,
    machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30) },
    versions: { node: process.version, cassandra: infra.cassandraVersion, redis: require('node:child_process').execFileSync('redis-server', ['--version']).toString().trim(), socketio: require('socket.io/package.json').version },
    ours: {}, peer: {},
  };
  try {
    let nodes = await startOurs(base, prefix, keyspace);
    let procs = { ...infraProcs, node0: nodes[0].child.pid, node1: nodes[1].child.pid };
    try {
      if (ONLY === 'groups') {
        results.ours.groups = await groupSuite('ours', nodes, procs, cassandra);
        process.stdout.write(require('./lib/report').markdown(results) + '\n');
        return;
      }
      results.ours.rate = await rateSuite('ours', nodes, procs, cassandra);
      if (ONLY === 'rate') {
        process.stdout.write(require('./lib/report').markdown(results) + '\n');
        return;
      }
      const best = [...results.ours.rate].reverse().find((r) => r.median.lost === 0 && r.median.latency.p99 < 100);
      const sustainedRate = best ? best.rate : RATES[0];
      log(`ours: ${sustainedRate} msg/s held for ${QUICK ? 10 : 30} s`);
      results.ours.sustained = await loadgen('rate', { target: 'ours', nodes, rate: sustainedRate, pairs: 500, warmupMs: 2000, durationMs: QUICK ? 10000 : 30000, cassandra }, procs);
      results.ours.groups = await groupSuite('ours', nodes, procs, cassandra);
      log('ours: history reads under 1k msg/s writes');
      const hs = await runs(RUNS, () => loadgen('history', { target: 'ours', nodes, rate: 1000, readRate: 100, durationMs: MEASURE_MS }, procs));
      results.ours.history = medianRun(hs, (r) => r.reads.p99);
      log('ours: reconnect storm');
      const ss = await runs(RUNS, () => loadgen('storm', { target: 'ours', nodes, devices: QUICK ? 1000 : 5000, missed: 2 }, procs));
      results.ours.storm = { ...medianRun(ss, (r) => r.caughtUpSeconds), runs: ss.map((r) => ({ caughtUpSeconds: r.caughtUpSeconds, ...brief(r) })) };
      log('ours: idle connections on one node');
      results.ours.idle = await idleSuite(nodes, 'ours');
    } finally {
      await saveMetrics(nodes);
      await stopAll(nodes);
    }
    if (ONLY === 'ours') {
      write(results, '-ours');
      return;
    }
    if (ONLY) return;

    nodes = await startPeer(base.redis.url);
    procs = { redis: infraProcs.redis, node0: nodes[0].child.pid, node1: nodes[1].child.pid };
    try {
      results.peer.rate = await rateSuite('peer', nodes, procs, null);
      results.peer.groups = await groupSuite('peer', nodes, procs, null);
      log('peer: idle connections on one node');
      results.peer.idle = await idleSuite(nodes, 'peer');
    } finally {
      await stopAll(nodes);
    }
  } catch (err) {
    const partial = path.join(__dirname, 'results', `${stamp.slice(0, 10)}-partial.json`);
    fs.mkdirSync(path.dirname(partial), { recursive: true });
    fs.writeFileSync(partial, JSON.stringify({ ...results, failed: String(err) }, null, 2));
    log(`what was measured before the failure: ${path.relative(ROOT, partial)}`);
    throw err;
  } finally {
    await local.stopAll();
  }
  write(results);
}

/** Writes the results; a full run (no suffix, not quick) also replaces docs/BENCHMARKS.md's table and the chart. */
function write(results, suffix = '') {
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const name = stamp.slice(0, 10) + (results.quick ? '-quick' : '') + suffix;
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(results, null, 2));
  const md = require('./lib/report').markdown(results);
  fs.writeFileSync(path.join(dir, `${name}.md`), md);
  // A quick run never replaces the chart of the last full run (the one docs/BENCHMARKS.md shows).
  const full = !results.quick && !suffix;
  const chart = full ? 'latency.svg' : `latency${results.quick ? '-quick' : ''}${suffix}.svg`;
  fs.writeFileSync(path.join(dir, chart), latencyChart(results));
  if (full) {
    const page = path.join(ROOT, 'docs', 'BENCHMARKS.md');
    const text = fs.readFileSync(page, 'utf8');
    const start = '<!-- bench:start -->';
    const end = '<!-- bench:end -->';
    if (text.includes(start)) {
      fs.writeFileSync(page, text.slice(0, text.indexOf(start) + start.length) + '\n' + md + '\n' + text.slice(text.indexOf(end)));
    }
  }
  log(`results in bench/results/${name}.json and .md, chart in bench/results/${chart}`);
  process.stdout.write(md + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
