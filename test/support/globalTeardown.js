'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** Stops what globalSetup started, and the processes tests started again in their place (their pids in `adopted-pids`). */
module.exports = async function globalTeardown() {
  const infra = globalThis.__TEST_INFRA__;
  if (!infra) return;
  if (infra.keyDistribution) {
    try {
      process.stdout.write(`\n[test] ${infra.keyDistribution()}\n`);
    } catch (err) {
      process.stdout.write(`\n[test] key distribution not read: ${err.message}\n`);
    }
  }
  await Promise.all(infra.handles.map((h) => h.stop()));
  const adopted = path.join(infra.dir, 'adopted-pids');
  if (fs.existsSync(adopted)) {
    for (const pid of fs.readFileSync(adopted, 'utf8').split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  fs.rmSync(infra.dir, { recursive: true, force: true });
};
