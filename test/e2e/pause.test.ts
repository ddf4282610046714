import { api, connectClosedAfterEach, eventually, expectExactlyOnce, FAST_FAILOVER, historyIds, increasing, itRepeated, newDevice, newUser, startCluster, textIds, WsClient } from '../support/helpers';

/**
 * Gray failure: a node stopped (SIGSTOP) mid-burst and let go again (SIGCONT), as a long GC pause,
 * VM steal or a blocked event loop would. With FAST_FAILOVER its lease lasts 3 s.
 */
const FAST = FAST_FAILOVER;
const connect = connectClosedAfterEach();




/**
 * s1 on A sends 200 messages about 3 ms apart; s2 on B sends one every 50 ms throughout; r has a
 * device on B and one on C. After s1's 100th send, A is stopped for `pauseMs`, then continued.
 */
async function pauseMidBurst(pauseMs: number) {
  const cluster = await startCluster(3, FAST);
  try {
    const [A, B, C] = cluster.nodes;
    const [s1, s2, r] = await Promise.all([newUser(A.url), newUser(A.url), newUser(A.url)]);
    const g = (await api(A.url, 'POST', '/api/groups', { token: s1.token, body: { name: 'pause', members: [s2.userId, r.userId] } })).body;
    const cid = g.conversationId as string;
    const w1 = await connect(A, s1, await newDevice(A.url, s1));
    const w2 = await connect(B, s2, await newDevice(A.url, s2));
    const rB = (await connect(B, r, await newDevice(A.url, r))).autoConfirm();
    const rC = (await connect(C, r, await newDevice(A.url, r))).autoConfirm();
    await Promise.all([w1, w2, rB, rC].map((ws) => ws.synced()));

    let steady = true;
    let s2Sent = 0;
    const s2Sends = (async () => {
      for (; steady; s2Sent++) {
        w2.send({ type: 'message.send', clientMsgId: `s2-${s2Sent}`, conversationId: cid, content: `s2 ${s2Sent}` });
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    let pausedFor = 0;
    for (let i = 0; i < 200; i++) {
      w1.send({ type: 'message.send', clientMsgId: `s1-${i}`, conversationId: cid, content: `s1 ${i}` });
      if (i === 99) {
        A.proc.kill('SIGSTOP');
        const t = Date.now();
        await new Promise((res) => setTimeout(res, pauseMs));
        A.proc.kill('SIGCONT');
        pausedFor = Date.now() - t;
      }
      await new Promise((res) => setTimeout(res, 3));
    }
    const answered = (ws: WsClient, prefix: string) => ws.frames.filter((f) => (f.clientMsgId ?? '').startsWith(prefix)
      && (f.type === 'message.ack' || f.type === 'error'));
    // Every send is answered (ack or error) once A runs again; s2 stops after s1's last.
    await eventually(() => answered(w1, 's1-').length >= 200, 30000);
    steady = false;
    await s2Sends;
    await eventually(() => answered(w2, 's2-').length >= s2Sent, 30000);
    const errors = [...answered(w1, 's1-'), ...answered(w2, 's2-')].filter((f) => f.type === 'error');
    // Refusals are retryable only; the client sends each again with the same clientMsgId, as the SDK does.
    expect(errors.filter((f) => !f.retryable)).toEqual([]);
    const acked = new Map<string, string>();
    for (const f of [...answered(w1, 's1-'), ...answered(w2, 's2-')]) if (f.type === 'message.ack') acked.set(f.clientMsgId, f.messageId);
    for (const f of errors) {
      const ws = f.clientMsgId.startsWith('s1-') ? w1 : w2;
      acked.set(f.clientMsgId, (await ws.sendUntilAcked({ conversationId: cid }, f.clientMsgId)).messageId);
    }
    const acks = [...acked.values()];
    expect(new Set(acks).size).toBe(200 + s2Sent);
    // Every acked message is in history...
    const stored = await historyIds(B, r, cid);
    expect(acks.filter((id) => !stored.includes(id))).toEqual([]);
    // ...and reaches both of r's devices exactly once, in id order.
    for (const ws of [rB, rC]) {
      await eventually(() => textIds(ws, cid).length >= acks.length, 30000);
      expectExactlyOnce(textIds(ws, cid), acks);
      expect(increasing(textIds(ws, cid))).toBe(true);
    }
    // Nothing beyond the acked messages was stored: one message per clientMsgId.
    expect(stored.filter((id) => !acks.includes(id))).toEqual([]);
    return { errors, acks, pausedFor };
  } catch (err) {
    (err as Error).message += `\n--- node logs ---\n${cluster.nodes.map((n) => n.output().split('\n').slice(-40).join('\n')).join('\n---\n')}`;
    throw err;
  } finally {
    await cluster.stop();
  }
}

describe('a node paused mid-burst (SIGSTOP, then SIGCONT)', () => {
  itRepeated('for longer than its lease: nothing acked is lost, every device gets every acked message once, in order', async () => {
    const { errors, acks, pausedFor } = await pauseMidBurst(7000);
    process.stdout.write(`[pause] ${pausedFor} ms (lease 3 s): ${acks.length} acked, ${errors.length} refused as retryable\n`);
  }, 120000);

  itRepeated('for less than its lease: nothing is lost and no send is refused', async () => {
    const { errors, acks } = await pauseMidBurst(1000);
    expect(errors).toEqual([]);
    expect(acks.length).toBeGreaterThanOrEqual(200);
  }, 120000);
});
