'use strict';
const fs = require('node:fs');

module.exports = async function globalTeardown() {
  const infra = globalThis.__TEST_INFRA__;
  if (!infra) return;
  await Promise.all([infra.cassandra.stop(), infra.redis.stop()]);
  fs.rmSync(infra.dir, { recursive: true, force: true });
};
