'use strict';
/**
 * What the infrastructure scripts share: logging, Debian packages, TCP probes, waiting on a
 * condition, stopping a child, and naming whoever holds a port. Node built-ins only.
 */
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');

function log(msg) {
  process.stdout.write(`[infra] ${msg}\n`);
}

/**
 * A set-up step that cannot go on for a reason the user can act on. Scripts print its message as
 * one line (no stack trace) and exit 1.
 */
class SetupError extends Error {}

/** Runs `main`; a SetupError becomes one line on stderr, anything else its stack. */
function runMain(name, main) {
  Promise.resolve().then(main).catch((err) => {
    process.stderr.write(err instanceof SetupError ? `${name}: ${err.message}\n` : `${name} failed: ${err.stack ?? err}\n`);
    process.exit(1);
  });
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
    throw new SetupError(`missing ${pkgs.join(', ')}: install them (apt-get install -y ${pkgs.join(' ')}) or run as root`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    log('apt-get update');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    aptUpdated = true;
  }
  log(`apt-get install -y ${pkgs.join(' ')}`);
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: ['ignore', 'ignore', 'inherit'], env });
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

/** True when a TCP listener can bind host:port now. */
function canListen(host, port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Who listens on TCP `port` (any address), from /proc: "java (pid 123): org.apache.cassandra…", or
 * null when it cannot be told (another user's process, another network namespace).
 */
function portHolder(port) {
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      if (parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
    }
  }
  if (!inodes.size) return null;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds = [];
    try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let target = '';
      try { target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1])) {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        const main = argv.find((a) => /^org\.apache\.cassandra\./.test(a)) ?? argv.slice(1, 3).join(' ');
        return `${argv[0]?.split('/').pop() ?? '?'} (pid ${pid}${main ? `: ${main}` : ''})`;
      }
    }
  }
  return null;
}

/** Fails at once, naming the port and its holder, when any of `ports` is taken on `host`. */
async function assertPortsFree(host, ports, what, hint) {
  for (const [name, port] of Object.entries(ports)) {
    if (!(await canListen(host, port))) {
      const holder = portHolder(port);
      throw new SetupError(`${what}: ${name} port ${host}:${port} is taken${holder ? ` by ${holder}` : ''}; stop it${hint ? ` or ${hint}` : ''}`);
    }
  }
}

module.exports = { log, SetupError, runMain, hasCommand, aptInstall, probe, waitFor, stopChild, canListen, portHolder, assertPortsFree };
