#!/usr/bin/env node
'use strict';
/** DeviceCursor cost per confirmation with many unconfirmed ids (issue 10 item 4): node bench/cursor.js after npm run build. */
const { DeviceCursor } = require('../dist/chat/DeviceCursor.js');
const { minIdAt } = require('../dist/chat/snowflake.js');
for (const n of [10000, 40000, 100000]) {
  const now = Date.now();
  const c = new DeviceCursor({ safe: minIdAt(now - 100000), seen: [] }, 30000);
  c.caughtUp();
  const ids = [];
  for (let i = 0; i < n; i++) { const x = minIdAt(now - 60000) + BigInt(i * 10); ids.push(x); c.markSent(x); }
  const t = process.hrtime.bigint();
  // A client confirming every 10th frame of a burst of n unconfirmed ones.
  for (let i = 9; i < n; i += 10) c.confirm(ids[i]);
  console.log(n, 'sent;', n / 10, 'confirmations:', Number(process.hrtime.bigint() - t) / 1e6, 'ms');
}
