#!/usr/bin/env node
'use strict';
/**
 * npm start: a local cluster on one machine.
 *   installs what is missing (npm packages, Redis, Java, Cassandra 2.1), starts Redis and Cassandra on
 *   loopback (data kept under .local/data), applies the schema, builds, and starts N nodes.
 *
 *   npm start                      2 nodes on 8080, 8081
 *   npm start -- --nodes 3 --port 9000
 *   CLUSTER_NODES=3 CLUSTER_BASE_PORT=9000 npm start
 *
 * Redis and Cassandra come from app.properties (CHAT_* overrides apply); if they are on loopback and
 * nothing answers there, this script starts them. Ctrl-C stops the nodes, then what it started.
 * Nodes log JSON lines (pino); here they are shown pretty for a person (pino-pretty). Nodes started
 * any other way (tests, bench, production) keep writing JSON.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');
const infra = require('./lib/infra');

function parseArgs(argv) {
  const opts = { nodes: Number(process.env.CLUSTER_NODES ?? 2), port: Number(process.env.CLUSTER_BASE_PORT ?? 8080) };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--nodes') opts.nodes = Number(argv[++i]);
    else if (argv[i] === '--port') opts.port = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]} (use --nodes N --port P)`);
  }
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 64) throw new Error('--nodes must be 1..64');
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port + opts.nodes > 65535) throw new Error('--port must be a valid port');
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  infra.ensureNodeModules();
  infra.build();
  const { loadConfig } = require(path.join(infra.ROOT, 'dist', 'config', 'config.js'));
  const config = loadConfig();
  const { stopAll } = await infra.bringUpLocal(config);
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

main().catch((err) => {
  process.stderr.write(`npm start failed: ${err.message}\n`);
  process.exit(1);
});
