#!/usr/bin/env node
'use strict';
/**
 * npm run infra: only the local Redis and Cassandra of app.properties (installed and started as
 * `npm start` does, data under .local/data), kept up until Ctrl-C. For running nodes by hand
 * (`node dist/main.js 8080`) or for `npm run bench` runs that should reuse a warm Cassandra.
 */
const path = require('node:path');
const infra = require('./lib/infra');

async function main() {
  infra.ensureNodeModules();
  infra.build();
  const { loadConfig } = require(path.join(infra.ROOT, 'dist', 'config', 'config.js'));
  const { stopAll } = await infra.bringUpLocal(loadConfig());
  infra.log('Redis and Cassandra are up; Ctrl-C stops what this script started');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await stopAll();
    process.exit(0);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void stop());
  setInterval(() => undefined, 1 << 30);
}

infra.runMain('npm run infra', main);
