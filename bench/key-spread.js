#!/usr/bin/env node
'use strict';
/**
 * How the hash tags spread keys over a Redis Cluster of 3 masters (the slot ranges
 * `redis-cli --cluster create` gives them), computed with the CRC16 slot function ioredis uses:
 * per-user, per-conversation and per-node keys for many generated ids. `npm run build` first.
 *   node bench/key-spread.js [count]
 * `npm run test:scale` prints the real keys per master at the end of each phase.
 */
const crypto = require('node:crypto');
const path = require('node:path');
// ioredis' own slot function (its dependency), so the figures are what the client computes.
const calculateSlot = require(require.resolve('cluster-key-slot', { paths: [path.dirname(require.resolve('ioredis'))] }));
const { Keys } = require(path.join(__dirname, '..', 'dist', 'store', 'redis', 'keys.js'));

const count = Number(process.argv[2] ?? 100000);
const keys = new Keys('chat:');
const masterOf = (slot) => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);

function spread(name, list) {
  const perMaster = [0, 0, 0];
  for (const key of list) perMaster[masterOf(calculateSlot(key))]++;
  const pct = perMaster.map((x) => `${((100 * x) / list.length).toFixed(1)} %`);
  process.stdout.write(`${name}: ${perMaster.join(' / ')} of ${list.length} (${pct.join(' / ')})\n`);
}

const users = Array.from({ length: count }, () => crypto.randomUUID());
const now = BigInt(Date.now());
spread(`users ({u:<uuid>}routes)`, users.map((u) => keys.routes(u)));
spread(`groups ({c:g_<snowflake>}seq)`, users.map((_, i) => keys.sequence(`g_${((now - BigInt(i) * 1000n) << 22n) + BigInt(i % 1024)}`)));
spread(`DMs ({c:d_<a>_<b>}seq)`, users.map((u, i) => keys.sequence(`d_${u}_${users[(i + 1) % count]}`)));
spread('node streams ({n:<id>}stream, ids 0..1023)', Array.from({ length: 1024 }, (_, i) => keys.stream(i)));
