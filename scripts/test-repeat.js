#!/usr/bin/env node
'use strict';
/**
 * npm run test:repeat -- N [jest args]: the end-to-end order and crash cases, each N times in one
 * run (one Redis, one Cassandra), so a failure that shows once in N runs shows here. Default N = 10.
 */
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const args = process.argv.slice(2);
const n = /^\d+$/.test(args[0] ?? '') ? Number(args.shift()) : 10;
const files = ['test/e2e/ordering.test.ts', 'test/e2e/resilience.test.ts', 'test/e2e/messaging.test.ts', 'test/e2e/sync.test.ts',
  'test/e2e/pause.test.ts', 'test/e2e/voids.test.ts', 'test/e2e/redis-tail.test.ts', 'test/e2e/skew.test.ts'];
const nameFilter = ['--testNamePattern', 'order|SIGKILL|Redis|burst|lease|voids|skew'];
const r = spawnSync(process.execPath, [path.join(__dirname, 'test.js'), ...nameFilter, ...files, ...args], {
  stdio: 'inherit',
  env: { ...process.env, TEST_REPEAT: String(n) },
});
process.exit(r.status ?? 1);
