'use strict';
/**
 * The load generator: a separate process that speaks only the public contract (REST + WebSocket
 * for ours, Socket.IO for the peer). A message counts as delivered only when the recipient device
 * got it. Prints one JSON result line on stdout.
 *
 *   node bench/loadgen.js <scenario> '<json args>'
 * scenarios: rate | group | idle | storm | history
 */
const { performance } = require('node:perf_hooks');
const { Accounting, percentiles } = require('./lib/accounting');
const { OursClient, PeerClient, request, pool } = require('./lib/clients');

const [scenario, argJson] = process.argv.slice(2);
const args = JSON.parse(argJson ?? '{}');
const client = args.target === 'peer' ? new PeerClient(args.nodes) : new OursClient(args.nodes);
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const PAD = 'x'.repeat(80);
const log = (msg) => process.stderr.write(`[loadgen ${scenario}/${client.name}] ${msg}\n`);

/** Resolves when `cond()` holds, or after `timeoutMs`. */
async function until(cond, timeoutMs, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await sleep(stepMs);
}

/**
 * Sends at a fixed offered rate for warm-up + duration; only messages sent after the warm-up are
 * counted. `pick(i)` returns {conn, target, expected} for the i-th message.
 */
async function offer({ rate, warmupMs, durationMs, pick, acct, onSent }) {
  const start = now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  let i = 0;
  let seq = 0;
  let inWindow = false;
  while (now() < end) {
    if (!inWindow && now() >= measureFrom) {
      inWindow = true;
      process.stdout.write(JSON.stringify({ phase: 'window-start' }) + '\n'); // CPU is measured from here...
    }
    const due = Math.floor((rate * (now() - start)) / 1000);
    for (; i < due; i++) {
      const { conn, target, expected } = pick(i);
      const clientMsgId = `m${seq++}`;
      const t = now();
      if (t >= measureFrom) acct.sent(clientMsgId, t, expected);
      conn.send(target, clientMsgId, `${clientMsgId}|${PAD}`);
      onSent?.();
    }
    await sleep(2);
  }
  process.stdout.write(JSON.stringify({ phase: 'window-end' }) + '\n'); // ...to here
  return { offeredRate: rate, measuredSeconds: durationMs / 1000, sentInWindow: acct.summary().sent };
}

/** Handlers for connect(); `conversations` collects the conversation ids seen in acks (persistence check). */
function wire(acct) {
  const conversations = new Set();
  return {
    conversations,
    onMessage: (clientMsgId, deviceKey) => acct.delivered(clientMsgId, deviceKey, now()),
    onAck: (f) => {
      if (f.conversationId) conversations.add(f.conversationId);
      if (f.type === 'message.ack') acct.acked(f.clientMsgId, f.messageId);
      else {
        if (!(f.code in acct.errors)) log(`first refused send with code ${f.code}: ${JSON.stringify(f)}`);
        acct.failed(f.clientMsgId, f.code);
      }
    },
  };
}

/** Checks in Cassandra that every acked message id is stored (ours only). */
async function persisted(acct, conversations) {
  if (client.name !== 'ours' || !args.cassandra) return null;
  const { Client } = require('cassandra-driver');
  // The contact point's port for the peers the driver discovers too (a local cluster is not on 9042).
  const port = Number(args.cassandra.contactPoint.split(':').pop());
  const db = new Client({ contactPoints: [args.cassandra.contactPoint], localDataCenter: 'datacenter1', keyspace: args.cassandra.keyspace, protocolOptions: { port } });
  await db.connect();
  try {
    const acked = new Set(acct.ackedIds());
    const found = new Set();
    const BUCKET_MS = 24 * 3600 * 1000;
    const bucketOf = (id) => Math.floor(Number(BigInt(id) >> 22n) / BUCKET_MS); // ms since the id epoch, per day
    const buckets = [...new Set([...acked].map(bucketOf))];
    await pool([...conversations], 16, async (cid) => {
      for (const b of buckets) {
        const rs = await db.execute('SELECT message_id FROM messages WHERE conversation_id = ? AND bucket = ?', [cid, b], { prepare: true, fetchSize: 100000 });
        for (const row of rs.rows) found.add(row.message_id.toString());
      }
    });
    let stored = 0;
    for (const id of acked) if (found.has(id)) stored++;
    return { acked: acked.size, stored, missing: acked.size - stored };
  } finally {
    await db.shutdown();
  }
}

/** 1:1 across nodes: `pairs` pairs, sender and recipient on different nodes, at `rate` msg/s. */
async function rateScenario() {
  const { pairs = 500, rate, warmupMs = 2000, durationMs = 10000 } = args;
  const acct = new Accounting();
  const handlers = wire(acct);
  const users = await client.users(pairs * 2, 1, `r${rate}`);
  const senders = [];
  const recipients = [];
  await pool(Array.from({ length: pairs }, (_, p) => p), 100, async (p) => {
    const s = users[2 * p];
    const r = users[2 * p + 1];
    senders[p] = { user: s, conn: await client.connect(s, 0, p % 2, handlers) };
    recipients[p] = { user: r, conn: await client.connect(r, 0, (p + 1) % 2, handlers) };
  });
  const confirmTimer = setInterval(() => recipients.forEach((r) => r.conn.confirm()), args.confirmMs ?? 1000);
  const info = await offer({
    rate, warmupMs, durationMs, acct,
    pick: (i) => {
      const p = i % pairs;
      return { conn: senders[p].conn, target: { userId: recipients[p].user.userId }, expected: [recipients[p].conn.key] };
    },
  });
  const total = () => acct.summary();
  await until(() => { const s = total(); return s.acked + s.failed === s.sent && s.delivered >= s.expectedDeliveries; }, 10000);
  clearInterval(confirmTimer);
  const summary = acct.summary();
  const stored = await persisted(acct, handlers.conversations);
  for (const c of [...senders, ...recipients]) c.conn.close();
  return { ...info, ...summary, persisted: stored };
}

/** Group fan-out: `groups` groups of `size` members spread over the nodes; messages to random groups at `rate`. */
async function groupScenario() {
  const { size, groups, rate, warmupMs = 2000, durationMs = 10000 } = args;
  const acct = new Accounting();
  const handlers = wire(acct);
  const users = await client.users(size * groups, 1, `g${size}`);
  const gs = [];
  for (let g = 0; g < groups; g++) {
    const members = users.slice(g * size, (g + 1) * size);
    gs.push({ id: await client.group(members[0], members.slice(1), `g${size}-${g}`), members });
  }
  const conns = new Map();
  await pool(users, 100, async (u, i) => { conns.set(u.userId, await client.connect(u, 0, i % 2, handlers)); });
  const confirmTimer = setInterval(() => conns.forEach((c) => c.confirm()), 1000);
  const info = await offer({
    rate, warmupMs, durationMs, acct,
    pick: (i) => {
      const g = gs[i % gs.length];
      const sender = g.members[(i * 7) % g.members.length];
      return {
        conn: conns.get(sender.userId), target: { group: g.id },
        expected: g.members.filter((m) => m !== sender).map((m) => conns.get(m.userId).key),
      };
    },
  });
  await until(() => { const s = acct.summary(); return s.delivered >= s.expectedDeliveries && s.acked + s.failed === s.sent; }, 15000);
  clearInterval(confirmTimer);
  const summary = acct.summary();
  const stored = await persisted(acct, new Set(gs.map((g) => g.id)));
  for (const c of conns.values()) c.close();
  return { ...info, ...summary, deliveriesPerSecond: acct.deliveryRate(durationMs), persisted: stored };
}

/**
 * Idle connections: `count` devices (100 per user) connect as fast as they can to one node; then
 * the process holds them until stdin closes (the orchestrator measures the node's memory meanwhile).
 */
async function idleScenario() {
  const { count, node = 0, localAddress, perUser = 100 } = args;
  const users = await client.users(Math.ceil(count / perUser), perUser, `i${process.pid}`);
  const devices = [];
  for (const u of users) for (let d = 0; d < u.devices.length && devices.length < count; d++) devices.push([u, d]);
  process.stdout.write(JSON.stringify({ phase: 'ready' }) + '\n');
  await new Promise((r) => process.stdin.once('data', r)); // the orchestrator says "go"
  const t0 = now();
  let failed = 0;
  let shed = 0;
  let firstError = null;
  // A 503 is the node shedding load (the retryable `unavailable`): a client tries again after a
  // backoff, as the SDK does, and the retries are counted. Any other refusal, or a 503 five times
  // over, is a failure.
  const connect = async ([u, d]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await client.connect(u, d, node, { localAddress });
      } catch (err) {
        if (/refused 503/.test(String(err?.message)) && attempt < 5) {
          shed++;
          await sleep(100 * 2 ** attempt);
          continue;
        }
        failed++;
        firstError ??= String(err?.message ?? err);
        return null;
      }
    }
  };
  const conns = await pool(devices, 500, connect);
  const seconds = (now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ phase: 'connected', connected: conns.filter(Boolean).length, failed, shed, firstError, seconds }) + '\n');
  await new Promise((r) => process.stdin.once('end', r));
  for (const c of conns) c?.close();
  return { done: true };
}

/**
 * Reconnect storm: `devices` devices connected over the nodes drop at once; while they are away each
 * is sent `missed` messages; then all reconnect at once. Time until every device has its messages.
 */
async function stormScenario() {
  const { devices: n, missed = 2, senders: senderCount = 10 } = args;
  const acct = new Accounting();
  const handlers = wire(acct);
  const users = await client.users(n, 1, 's');
  const senderUsers = await client.users(senderCount, 1, 'ss');
  // A device that cannot connect at first is left out (counted), not the end of the run.
  let conns = (await pool(users, 200, (u, i) => client.connect(u, 0, i % 2, handlers).catch(() => null)));
  const initialFailures = conns.filter((c) => !c).length;
  const senders = await pool(senderUsers, 10, (u, i) => client.connect(u, 0, i % 2, handlers));
  await sleep(1500);
  for (const c of conns) c?.confirm();
  await sleep(1500); // the confirmations are stored: the devices have nothing pending
  for (const c of conns) c?.close();
  await sleep(500);
  let k = 0;
  for (let m = 0; m < missed; m++) {
    for (let i = 0; i < n; i++) {
      const clientMsgId = `st${k++}`;
      acct.sent(clientMsgId, now(), [users[i].devices[0]]);
      senders[i % senderCount].send({ userId: users[i].userId }, clientMsgId, `${clientMsgId}|${PAD}`);
      if (k % 1000 === 0) await sleep(50);
    }
  }
  await until(() => { const s = acct.summary(); return s.acked + s.failed === s.sent; }, 60000);
  const t0 = now();
  conns = await pool(users, 1000, (u, i) => client.connect(u, 0, i % 2, handlers).catch(() => null));
  const connectedAt = now();
  await until(() => acct.summary().delivered >= acct.summary().expectedDeliveries, 60000);
  const caughtUpSeconds = (now() - t0) / 1000;
  const summary = acct.summary();
  for (const c of [...conns, ...senders]) c?.close();
  return {
    devices: n, missedPerDevice: missed, reconnectSeconds: (connectedAt - t0) / 1000, caughtUpSeconds,
    failedReconnects: conns.filter((c) => !c).length, initialConnectFailures: initialFailures, ...summary,
  };
}

/** History reads (newest page, 50 per page) at `readRate` req/s while 1:1 writes run at `rate` msg/s. */
async function historyScenario() {
  const { pairs = 200, rate = 1000, readRate = 100, durationMs = 10000, prefill = 200 } = args;
  const acct = new Accounting();
  const handlers = wire(acct);
  const users = await client.users(pairs * 2, 1, 'h');
  const conns = await pool(users, 100, (u, i) => client.connect(u, 0, i % 2, handlers));
  // Prefill: every pair gets `prefill` messages spread over the conversations read later.
  await offer({ rate: 2000, warmupMs: 0, durationMs: (prefill * pairs * 1000) / 2000 / 10, acct: new Accounting(), pick: (i) => ({ conn: conns[2 * (i % pairs)], target: { userId: users[2 * (i % pairs) + 1].userId }, expected: [] }) });
  await sleep(1000);
  // Each pair's conversation, as its sender lists it.
  const conversations = await pool(Array.from({ length: pairs }, (_, p) => p), 16, async (p) =>
    (await client.conversations(users[2 * p]))[0].conversationId);
  const readLatencies = [];
  let readErrors = 0;
  let reading = true;
  const reader = (async () => {
    let i = 0;
    const start = now();
    while (reading) {
      const due = Math.floor((readRate * (now() - start)) / 1000);
      const batch = [];
      for (; i < due; i++) {
        const p = i % pairs;
        const cid = conversations[p];
        const t = now();
        batch.push(request(args.nodes[i % 2].url, 'GET', `/api/conversations/${cid}/messages?limit=50`, { token: users[2 * p].token })
          .then((r) => { if (r.status === 200) readLatencies.push(now() - t); else readErrors++; }, () => { readErrors++; }));
      }
      await sleep(5);
    }
  })();
  await offer({ rate, warmupMs: 1000, durationMs, acct, pick: (i) => ({ conn: conns[2 * (i % pairs)], target: { userId: users[2 * (i % pairs) + 1].userId }, expected: [conns[2 * (i % pairs) + 1].key] }) });
  reading = false;
  await reader;
  await until(() => acct.summary().delivered >= acct.summary().expectedDeliveries, 5000);
  for (const c of conns) c.close();
  return { writeRate: rate, readRate, reads: percentiles(readLatencies), readErrors, writes: acct.summary() };
}

const scenarios = { rate: rateScenario, group: groupScenario, idle: idleScenario, storm: stormScenario, history: historyScenario };

/**
 * Load shedding (the retryable `unavailable`) is a measured outcome, shown in the table; any other
 * refusal (a limit, a rejected connection, a failed read) means the harness asked for something the
 * nodes were not set up to allow, and the run fails instead of printing a smaller number.
 */
const SHED = new Set(['unavailable']);
function checkRefusals(result) {
  const problems = [];
  for (const s of [result, result.writes].filter(Boolean)) {
    const other = Object.entries(s.errors ?? {}).filter(([code]) => !SHED.has(code));
    if (other.length) problems.push(`sends refused: ${other.map(([c, n]) => `${n} ${c}`).join(', ')}`);
  }
  if (result.readErrors) problems.push(`${result.readErrors} history reads failed`);
  if (result.initialConnectFailures) problems.push(`${result.initialConnectFailures} connections refused`);
  if (result.failedReconnects) problems.push(`${result.failedReconnects} reconnects refused`);
  if (problems.length) throw new Error(`${scenario}: ${problems.join('; ')}`);
}

scenarios[scenario]().then((result) => {
  checkRefusals(result);
  process.stdout.write(JSON.stringify({ phase: 'result', result }) + '\n');
  setTimeout(() => process.exit(0), 100);
}, (err) => {
  log(`failed: ${err.stack ?? err}`);
  process.stdout.write(JSON.stringify({ phase: 'error', error: String(err) }) + '\n');
  process.exit(1);
});
