import { eventually, expectExactlyOnce, newDevice, newUser, startCluster, WsClient, type TestCluster, type TestUser } from '../support/helpers';

/**
 * A node that stalls while deliveries pile up in its stream: the stream is trimmed of entries it
 * never read. It must notice and read what its devices missed from Cassandra: everything once, in
 * order. Its lease outlives the stall here (otherwise taking the lease back resyncs anyway), and the
 * stream bound is low enough that the flood trims it for sure.
 */
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster(3, {
    CHAT_WS_MAX_FRAMES_PER_SECOND: '100000', CHAT_STREAM_MAX_LEN: '300',
    CHAT_NODE_LEASE_TTL_SECONDS: '90', CHAT_SYNC_SAFETY_LAG_MS: '180000', CHAT_PRESENCE_TIMEOUT_MS: '120000',
  });
});
afterAll(() => cluster.stop());

async function connected(node: { url: string; wsUrl: string }, u: TestUser): Promise<WsClient> {
  const ws = await WsClient.connect(node.wsUrl, u.token, await newDevice(node.url, u));
  await ws.synced();
  return ws;
}

/** Sends `count` messages to `to` in rounds of 200; returns the acked ids. */
async function sendMany(ws: WsClient, to: string, tag: string, count: number): Promise<string[]> {
  const acked: string[] = [];
  for (let round = 0; round * 200 < count; round++) {
    const ids = Array.from({ length: Math.min(200, count - round * 200) }, (_, k) => `${tag}-${round}-${k}`);
    const replies = await ws.sendAll({ to }, ids);
    for (const id of ids) {
      const f = replies.get(id);
      expect(f.type).toBe('message.ack');
      acked.push(f.messageId);
    }
  }
  return acked;
}

it('a node stopped for 20 s while 15k messages flow to its devices gets every one to them once, in order, after it resumes', async () => {
  const [quiet, stalled, busy] = cluster.nodes;
  const receivers = await Promise.all([0, 1, 2, 3].map(() => newUser(busy.url)));
  const sockets = await Promise.all(receivers.map(async (r) => (await connected(stalled, r)).autoConfirm()));
  const quietSender = await connected(quiet, await newUser(quiet.url));
  const busySenders = await Promise.all([1, 2, 3].map(async () => connected(busy, await newUser(busy.url))));

  stalled.proc.kill('SIGSTOP');
  const stoppedAt = Date.now();
  const acked: string[][] = [];
  try {
    // A few from one node first, then a flood from another: MAXLEN trims the first node's entries,
    // and that node sends nothing after them (no later entry of its own shows the loss).
    acked[0] = await sendMany(quietSender, receivers[0].userId, 'quiet', 100);
    const flood = await Promise.all(busySenders.map((s, i) => sendMany(s, receivers[i + 1].userId, `busy${i}`, 5000)));
    acked.push(...flood);
    // Stopped for 20 s at least (longer if the sends took longer).
    await eventually(() => Date.now() - stoppedAt >= 20_000, 21_000);
  } finally {
    stalled.proc.kill('SIGCONT');
  }

  for (let i = 0; i < receivers.length; i++) {
    await eventually(() => sockets[i].messages().length >= acked[i].length, 60_000).catch((err) => {
      throw new Error(`receiver ${i}: ${sockets[i].messages().length} of ${acked[i].length}, close codes ${sockets.map((s) => s.closeCode)}: ${err}`);
    });
    const got = sockets[i].messages().map((m) => m.messageId as string);
    expectExactlyOnce(got, acked[i]);
    // One conversation per receiver: in id order.
    expect(got).toEqual([...got].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)));
    expect(sockets[i].closeCode).toBeNull();
  }
  // The stream was trimmed, and the node noticed it (not the lease: it outlived the stall).
  const said = stalled.logs().map((l) => l.msg);
  expect(said).toContain('entries from a node were lost: resyncing local devices');
  expect(said).not.toContain('node lease was gone; re-acquired it');
  expect(stalled.proc.exitCode).toBeNull();
}, 180_000);
