import {
  api, connectClosedAfterEach, eventually, expectExactlyOnce, FAST_FAILOVER as FAST, itRepeated, newDevice, newUser, startCluster, stepsTraced, withNodesOnPrivateRedis, WsClient, type NodeProc,
} from '../support/helpers';

/**
 * Order per conversation, end to end, under the failures it must survive. `npm run test:repeat -- N`
 * runs each case N times in one run.
 */

const connect = connectClosedAfterEach();

/** Text message ids in the order the device got them. */
const textIds = (ws: WsClient): string[] => ws.messages().filter((m) => m.type === 'text').map((m) => m.messageId);

function expectIdOrder(ids: string[], who: string): void {
  for (let i = 1; i < ids.length; i++) {
    if (BigInt(ids[i]) <= BigInt(ids[i - 1])) throw new Error(`${who}: ${ids[i]} came after ${ids[i - 1]} (position ${i} of ${ids.length})`);
  }
}

/** The replies (ack or error) to these clientMsgIds, in the order they arrived; waits until each has one. */
async function replies(ws: WsClient, clientMsgIds: string[], timeoutMs = 30000): Promise<any[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const want = new Set(clientMsgIds);
  const got = () => ws.frames.filter((f) => (f.type === 'message.ack' || f.type === 'error') && want.has(f.clientMsgId));
  await eventually(() => got().length >= want.size, timeoutMs);
  return got();
}

/**
 * Alice (node 0) and a group with Bob (a device on each node) and Carol (node 1); Alice sends a
 * burst of 150 without waiting; resolves once 30 are acked (the rest still in flight).
 */
async function burstIntoGroup(nodes: NodeProc[], prefix: string) {
  const [alice, bob, carol] = await Promise.all([newUser(nodes[0].url), newUser(nodes[0].url), newUser(nodes[0].url)]);
  const g = (await api(nodes[0].url, 'POST', '/api/groups', { token: alice.token, body: { name: prefix, members: [bob.userId, carol.userId] } })).body;
  const a = await connect(nodes[0], alice, await newDevice(nodes[0].url, alice));
  const receivers = [
    await connect(nodes[0], bob, await newDevice(nodes[0].url, bob)),
    (await connect(nodes[1], bob, await newDevice(nodes[0].url, bob))).autoConfirm(),
    await connect(nodes[1], carol, await newDevice(nodes[0].url, carol)),
  ];
  await Promise.all([a, ...receivers].map((ws) => ws.synced()));
  const burst = Array.from({ length: 150 }, (_, i) => `${prefix}${i}`);
  for (const id of burst) a.send({ type: 'message.send', clientMsgId: id, conversationId: g.conversationId, content: id });
  await eventually(() => a.ofType('message.ack').length >= 30, 20000);
  return { a, g, receivers, burst, carol };
}

describe('a node killed with SIGKILL while many senders write into one group', () => {
  itRepeated('keeps the group in id order on every surviving device and on every device that reconnects, each message once', async () => {
    const cluster = await startCluster(3, FAST);
    try {
      const [sendNode, victim, survivor] = cluster.nodes;
      const users = await Promise.all(Array.from({ length: 6 }, () => newUser(sendNode.url)));
      const [owner, ...others] = users;
      const g = (await api(sendNode.url, 'POST', '/api/groups', { token: owner.token, body: { name: 'order', members: others.map((u) => u.userId) } })).body;
      // Every member has a device on the victim and one on the survivor; four of them also send from the third node.
      const devices = await Promise.all(users.map(async (u) => {
        const [dv, ds] = [await newDevice(sendNode.url, u), await newDevice(sendNode.url, u)];
        return { u, dv, v: await connect(victim, u, dv), s: await connect(survivor, u, ds) };
      }));
      const senders = await Promise.all(users.slice(0, 4).map(async (u) => connect(sendNode, u, await newDevice(sendNode.url, u))));
      await Promise.all([...devices.flatMap((d) => [d.v, d.s]), ...senders].map((ws) => ws.synced()));

      const PER = 50;
      const ids = senders.map((_, i) => Array.from({ length: PER }, (__, k) => `s${i}-${k}`));
      for (let k = 0; k < PER; k++) {
        senders.forEach((ws, i) => ws.send({ type: 'message.send', clientMsgId: ids[i][k], conversationId: g.conversationId, content: ids[i][k] }));
      }
      await eventually(() => senders.reduce((n, ws) => n + ws.ofType('message.ack').length, 0) >= 40, 20000);
      victim.proc.kill('SIGKILL');

      // The senders' node survives: every send is acked, each sender's acks in the order it sent.
      const acked: string[] = [];
      for (const [i, ws] of senders.entries()) {
        const r = await replies(ws, ids[i]);
        expect(r.map((f) => [f.type, f.clientMsgId])).toEqual(ids[i].map((id) => ['message.ack', id]));
        acked.push(...r.map((f) => f.messageId));
      }
      expect(new Set(acked).size).toBe(senders.length * PER);

      // Devices on the surviving node: everything once, in id order (they resync when the victim's lease expires).
      for (const d of devices) {
        await eventually(() => textIds(d.s).length >= acked.length, 20000);
        expectIdOrder(textIds(d.s), `survivor device of ${d.u.username}`);
        expectExactlyOnce(textIds(d.s), acked);
      }
      // Devices that were on the victim: what they had is in order, so they resume from the newest of it.
      for (const d of devices) {
        const had = textIds(d.v);
        expectIdOrder(had, `victim device of ${d.u.username}`);
        const again = await connect(survivor, d.u, d.dv, had.length ? had[had.length - 1] : undefined);
        await eventually(() => had.length + textIds(again).length >= acked.length, 20000);
        const all = [...had, ...textIds(again)];
        expectIdOrder(all, `reconnected device of ${d.u.username}`);
        expectExactlyOnce(all, acked);
      }
    } finally {
      await cluster.stop();
    }
  });
});

describe('senders on every node writing into one group at once, one of the nodes killed', () => {
  const trace = stepsTraced();
  itRepeated('gives every device on the other nodes the group in id order, each message once, and keeps sending after the kill', async () => {
    const cluster = await startCluster(3, FAST);
    trace.begin(() => cluster.nodes);
    try {
      const [a, victim, c] = cluster.nodes;
      const users = await Promise.all(Array.from({ length: 6 }, () => newUser(a.url)));
      const [owner, ...others] = users;
      const g = (await api(a.url, 'POST', '/api/groups', { token: owner.token, body: { name: 'cross', members: others.map((u) => u.userId) } })).body;
      // Every member reads on the two surviving nodes and on the victim; two members send from each node.
      const devices = await Promise.all(users.map(async (u) => {
        const on = async (node: typeof a) => connect(node, u, await newDevice(a.url, u));
        return { u, a: await on(a), c: await on(c), v: await on(victim) };
      }));
      const sendersOn = async (node: typeof a, who: typeof users) => Promise.all(who.map(async (u) => connect(node, u, await newDevice(a.url, u))));
      const survivors = [...await sendersOn(a, users.slice(0, 2)), ...await sendersOn(c, users.slice(2, 4))];
      const doomed = await sendersOn(victim, users.slice(4, 6));
      await Promise.all([...devices.flatMap((d) => [d.a, d.c, d.v]), ...survivors, ...doomed].map((ws) => ws.synced()));

      trace.step('every device synced');
      const PER = 40;
      const burst = (senders: WsClient[], tag: string) => senders.map((ws, i) => Array.from({ length: PER }, (_, k) => {
        const id = `${tag}${i}-${k}`;
        ws.send({ type: 'message.send', clientMsgId: id, conversationId: g.conversationId, content: id });
        return id;
      }));
      // Sent interleaved: each sender's k-th message goes out with everyone else's.
      const sent: string[][] = [];
      for (let k = 0; k < PER; k++) {
        [...survivors, ...doomed].forEach((ws, i) => {
          const id = `${i < survivors.length ? 's' : 'd'}${i}-${k}`;
          (sent[i] ??= []).push(id);
          ws.send({ type: 'message.send', clientMsgId: id, conversationId: g.conversationId, content: id });
        });
      }
      await eventually(() => doomed.reduce((n, ws) => n + ws.ofType('message.ack').length, 0) >= PER / 2, 20000);
      victim.proc.kill('SIGKILL');
      trace.step('victim killed');

      // The survivors' nodes run throughout: every send of theirs is acked, none refused.
      const ackedOf = async (ws: WsClient, ids: string[]) => {
        const got = await replies(ws, ids);
        expect(got.filter((f) => f.type !== 'message.ack')).toEqual([]);
        return got.map((f) => f.messageId as string);
      };
      // Each step waits on all its sockets at once: the test's time is the sum of its steps' bounds,
      // not of every socket's (jest's timeout is set above that sum, so a failure is a step's own).
      const acked: string[] = (await Promise.all(survivors.map((ws, i) => ackedOf(ws, sent[i])))).flat();
      // After the kill (its placed but unstored ids must not hold the group up): another round from the survivors.
      trace.step('survivors acked');
      const after = burst(survivors, 'after');
      acked.push(...(await Promise.all(survivors.map((ws, i) => ackedOf(ws, after[i])))).flat());
      const ackedByVictim = doomed.flatMap((ws) => ws.ofType('message.ack').map((f) => f.messageId));
      expect(acked.length).toBe(survivors.length * PER * 2);

      // What the victim's senders had stored but not acked may arrive too (once); everything acked must.
      trace.step('second round acked');
      const mustHave = [...acked, ...ackedByVictim];
      await Promise.all(devices.flatMap((d) => ([['a', d.a], ['c', d.c]] as const).map(async ([where, ws]) => {
        await eventually(() => { const have = new Set(textIds(ws)); return mustHave.every((id) => have.has(id)); }, 20000)
          .catch((err: Error) => {
            const have = new Set(textIds(ws));
            const missing = mustHave.filter((id) => !have.has(id));
            err.message += ` — device of ${d.u.username} on node ${where} lacks ${missing.length} acked ids: ${missing.slice(0, 5).join(', ')}`;
            throw err;
          });
        const got = textIds(ws);
        expectIdOrder(got, `device of ${d.u.username} on node ${where}`);
        expect(got.length).toBe(new Set(got).size);
        for (const m of ws.messages().filter((x) => x.type === 'text')) expect(m.content).toMatch(/^(s|d|after)\d+-\d+$/);
      })));
      for (const d of devices) expectIdOrder(textIds(d.v), `victim device of ${d.u.username}`);
      trace.done();
    } finally {
      await cluster.stop();
    }
    // The steps' bounds (start-up, 20 s for the victim's first acks, 30 s for each round of replies,
    // 20 s for delivery) and the nodes' shutdown.
  }, 150_000);
});

describe('Redis restarting without its data in the middle of a burst', () => {
  itRepeated('gives every device every acked message once, in id order, and the sender its replies in send order', async () => {
    await withNodesOnPrivateRedis('redis-order', 2, async (nodes, redis) => {
      const { a, g, receivers, burst } = await burstIntoGroup(nodes, 'b');
      await redis.restart();

      // Replies come in send order, acks and retryable errors alike.
      const first = await replies(a, burst);
      expect(first.map((f) => f.clientMsgId)).toEqual(burst);
      const acked = first.filter((f) => f.type === 'message.ack').map((f) => f.messageId);
      // What failed while Redis was away is sent again (same clientMsgId) until it is acked.
      for (const f of first.filter((x) => x.type === 'error')) {
        expect(f.retryable).toBe(true);
        acked.push((await a.sendUntilAcked({ conversationId: g.conversationId }, f.clientMsgId)).messageId);
      }
      expect(new Set(acked).size).toBe(burst.length);
      for (const [i, ws] of receivers.entries()) {
        await eventually(() => textIds(ws).length >= acked.length, 20000);
        expectIdOrder(textIds(ws), `receiver ${i}`);
        expectExactlyOnce(textIds(ws), acked);
      }
    });
  });
});

describe('Redis restored from an RDB snapshot taken mid-burst (the writes after it are lost; Cassandra keeps them)', () => {
  itRepeated('loses nothing acked, gives no resent clientMsgId a second message, and every device every acked message once, in id order', async () => {
    await withNodesOnPrivateRedis('redis-snapshot', 2, async (nodes, redis) => {
      const { a, g, receivers, burst, carol } = await burstIntoGroup(nodes, 's');
      await redis.snapshot();
      // Claims, sequence links and stream entries written from here on are lost by the restore.
      await eventually(() => a.ofType('message.ack').length >= 60, 20000);
      await redis.restart();

      const acked = new Map<string, string>();
      for (const f of await replies(a, burst)) {
        if (f.type === 'message.ack') acked.set(f.clientMsgId, f.messageId);
        else expect(f.retryable).toBe(true);
      }
      for (const id of burst.filter((x) => !acked.has(x))) acked.set(id, (await a.sendUntilAcked({ conversationId: g.conversationId }, id)).messageId);
      // A client that never got its acks sends everything again: each clientMsgId gets its first message back.
      for (const id of burst) {
        const again = await a.sendUntilAcked({ conversationId: g.conversationId }, id);
        expect({ id, messageId: again.messageId, duplicate: again.duplicate }).toEqual({ id, messageId: acked.get(id), duplicate: true });
      }
      const ids = [...acked.values()];
      expect(new Set(ids).size).toBe(burst.length);
      for (const [i, ws] of receivers.entries()) {
        await eventually(() => textIds(ws).length >= ids.length, 20000);
        expectIdOrder(textIds(ws), `receiver ${i}`);
        expectExactlyOnce(textIds(ws), ids);
      }
      // History holds exactly those messages: nothing acked missing, nothing stored twice.
      const stored: string[] = [];
      for (let after = '0'; ;) {
        const page = await api(nodes[1].url, 'GET', `/api/conversations/${g.conversationId}/messages?limit=100&after=${after}`, { token: carol.token });
        expect(page.status).toBe(200);
        const messages = page.body.messages as Array<{ type: string; messageId: string }>;
        if (messages.length === 0) break;
        stored.push(...messages.filter((m) => m.type === 'text').map((m) => m.messageId));
        after = messages[messages.length - 1].messageId;
      }
      expect(stored.sort()).toEqual([...ids].sort());
    });
  });
});
