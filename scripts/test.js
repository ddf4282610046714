#!/usr/bin/env node
'use strict';
/**
 * npm test: everything from a fresh clone. Installs npm packages, Redis, Java and Maven, Cassandra 5.0
 * (from Maven Central) and chromium if missing, builds dist/ (end-to-end tests run node processes from
 * dist/main.js), then runs jest. Jest's global setup starts Redis and Cassandra once for the run on
 * ephemeral loopback ports; with CHAT_CASSANDRA_CONTACT_POINTS set it uses that Cassandra instead
 * (a keyspace of the run's own), and nothing is fetched.
 * Extra arguments go to jest: npm test -- test/unit
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const infra = require('./lib/infra');

function setUp() {
  infra.ensureNodeModules();
  infra.ensureRedisInstalled();
  if (!process.env.CHAT_CASSANDRA_CONTACT_POINTS) infra.ensureCassandraInstalled();
  // The web client's tests drive a real chromium (test/e2e/web.test.ts); CHROMIUM_PATH tells them where it is.
  process.env.CHROMIUM_PATH ??= infra.ensureChromiumInstalled();
  // Skewed clocks in test/e2e/skew.test.ts come from Debian's libfaketime.
  infra.ensureFaketimeInstalled();
  infra.build();
}
const jest = path.join(infra.ROOT, 'node_modules', 'jest', 'bin', 'jest.js');
const results = path.join(infra.LOCAL, 'jest-results.json');
const quietResults = path.join(infra.LOCAL, 'jest-results-quiet.json');
const lastResults = path.join(infra.LOCAL, 'jest-results-last.json');
/**
 * Tests that time a bystander's latency under an attack run after the rest, one file at a time:
 * they measure what the attack does to a node, and on a 2-core machine another test file running
 * beside them (its nodes, its load) would be in the measurement too.
 */
const QUIET = ['test/e2e/fuzz.test.ts', 'test/e2e/limits-frames.test.ts', 'test/e2e/limits-reads.test.ts'];
/**
 * Pauses the run's one Cassandra under load: nothing else may run meanwhile, and it runs last, since
 * Cassandra works off what it left (flushes, compaction) for a while after, which a bystander's
 * timing would include.
 */
const LAST = ['test/e2e/slow-cassandra.test.ts'];
const quietPattern = [...QUIET, ...LAST].map((f) => f.replace(/[.]/g, '\\.')).join('|');

function runJest(args, outputFile) {
  fs.rmSync(outputFile, { force: true });
  const r = spawnSync(process.execPath, [jest, '--json', `--outputFile=${outputFile}`, ...args], { stdio: 'inherit', cwd: infra.ROOT });
  const j = fs.existsSync(outputFile) ? JSON.parse(fs.readFileSync(outputFile, 'utf8')) : null;
  return { ok: r.status === 0, passed: j?.numPassedTests ?? 0, failed: j?.numFailedTests ?? 0 };
}

function main() {
  setUp();
  const extra = process.argv.slice(2);
  // With arguments (files, -t, ...), one jest run of exactly what was asked.
  const runs = extra.length ? [runJest(extra, results)]
    : [runJest(['--testPathIgnorePatterns', quietPattern, '/test/scale/'], results), runJest(['--runInBand', ...QUIET], quietResults),
      runJest(['--runInBand', ...LAST], lastResults)];
  // A plain summary line that any CI can read.
  const passed = runs.reduce((n, r) => n + r.passed, 0);
  const failed = runs.reduce((n, r) => n + r.failed, 0);
  process.stdout.write(`\ntests: ${passed} passed, ${failed} failed\n`);
  process.exit(runs.every((r) => r.ok) ? 0 : 1);
}

infra.runMain('npm test', main);
