#!/usr/bin/env node
'use strict';
/** npm run migrate: applies cql/ migrations to the Cassandra in app.properties (idempotent). Needs a build. */
const path = require('node:path');
const fs = require('node:fs');
const dist = path.resolve(__dirname, '..', 'dist');
if (!fs.existsSync(path.join(dist, 'store', 'migrate.js'))) {
  process.stderr.write('run `npm run build` first\n');
  process.exit(2);
}
const { loadConfig } = require(path.join(dist, 'config', 'config.js'));
const { createLogger } = require(path.join(dist, 'log.js'));
const { runMigrations } = require(path.join(dist, 'store', 'migrate.js'));

const config = loadConfig();
runMigrations(config, createLogger(config.log.level, { name: 'migrate' })).then((n) => {
  process.stdout.write(`schema of keyspace ${config.cassandra.keyspace} is up to date (${n} migration(s) applied)\n`);
  process.exit(0);
}, (err) => {
  process.stderr.write(`migration failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
