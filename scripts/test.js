#!/usr/bin/env node
'use strict';
/**
 * npm test: everything from a fresh clone. Installs npm packages, Redis, Java and Cassandra if
 * missing, builds dist/ (end-to-end tests run node processes from dist/main.js), then runs jest.
 * Jest's global setup starts Redis and Cassandra once for the run on ephemeral loopback ports.
 * Extra arguments go to jest: npm test -- test/unit
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const infra = require('./lib/infra');

infra.ensureNodeModules();
infra.ensureRedisInstalled();
infra.ensureCassandraInstalled();
infra.build();
const jest = path.join(infra.ROOT, 'node_modules', 'jest', 'bin', 'jest.js');
const results = path.join(infra.LOCAL, 'jest-results.json');
fs.rmSync(results, { force: true });
const r = spawnSync(process.execPath, [jest, '--json', `--outputFile=${results}`, ...process.argv.slice(2)], { stdio: 'inherit', cwd: infra.ROOT });
// A plain summary line that any CI can read.
if (fs.existsSync(results)) {
  const j = JSON.parse(fs.readFileSync(results, 'utf8'));
  process.stdout.write(`\ntests: ${j.numPassedTests} passed, ${j.numFailedTests} failed\n`);
}
process.exit(r.status ?? 1);
