#!/usr/bin/env node
'use strict';
/**
 * npm run test:scale: the clustered topology from a fresh clone (set-up as in npm test). Each phase
 * is one jest run with its own Redis Cluster (3 masters + 3 replicas) and 3-node Cassandra at RF 3
 * (test/support/globalSetup.js, TEST_TOPOLOGY=scale):
 * 1. the e2e flows that send, sync and crash, unchanged, two files at a time;
 * 2. the failure tests (test/scale), one at a time: they kill parts of the shared topology.
 * Extra arguments go to one jest run of exactly what was asked: npm run test:scale -- test/scale/redis-failover
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const infra = require('./lib/infra');

function setUp() {
  infra.ensureNodeModules();
  infra.ensureRedisInstalled();
  infra.ensureCassandraInstalled();
  infra.build();
}
const jest = path.join(infra.ROOT, 'node_modules', 'jest', 'bin', 'jest.js');

function runJest(args, name) {
  const outputFile = path.join(infra.LOCAL, `jest-scale-${name}.json`);
  fs.rmSync(outputFile, { force: true });
  const started = Date.now();
  const r = spawnSync(process.execPath, [jest, '--config', 'jest.scale.config.js', '--json', `--outputFile=${outputFile}`, ...args],
    { stdio: 'inherit', cwd: infra.ROOT, env: { ...process.env, TEST_TOPOLOGY: 'scale' } });
  const j = fs.existsSync(outputFile) ? JSON.parse(fs.readFileSync(outputFile, 'utf8')) : null;
  process.stdout.write(`[test:scale] ${name}: ${Math.round((Date.now() - started) / 1000)} s\n`);
  return { ok: r.status === 0, passed: j?.numPassedTests ?? 0, failed: j?.numFailedTests ?? 0 };
}

function main() {
  setUp();
  const extra = process.argv.slice(2);
  const runs = [];
  if (extra.length) runs.push(runJest(extra, 'selected'));
  else {
    runs.push(runJest(['--testPathIgnorePatterns', '/test/scale/'], 'e2e-on-cluster'));
    runs.push(runJest(['--runInBand', 'test/scale/'], 'failures'));
  }
  const passed = runs.reduce((n, r) => n + r.passed, 0);
  const failed = runs.reduce((n, r) => n + r.failed, 0);
  process.stdout.write(`\ntest:scale: ${passed} passed, ${failed} failed\n`);
  process.exit(runs.every((r) => r.ok) ? 0 : 1);
}

infra.runMain('npm run test:scale', main);
