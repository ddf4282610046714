import { api, itRepeated, newDevice, newUser, startNodeProcess, uniquePrefix, WsClient, type NodeProc } from '../support/helpers';
import { expectOnlyRetryableErrors, withGroupFlow } from '../scale/flows';

/**
 * Skewed clocks, made with Debian's libfaketime (LD_PRELOAD): a node 40 s behind the others and one
 * 40 s ahead. Each measures its offset against Redis's TIME at every lease refresh.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { FAKETIME_LIB } = require('../../scripts/lib/infra');
const skewed = (offset: string) => ({ LD_PRELOAD: FAKETIME_LIB, FAKETIME: offset, DONT_FAKE_MONOTONIC: '1' });
const FAST = { CHAT_NODE_LEASE_TTL_SECONDS: '3', CHAT_WS_MAX_FRAMES_PER_SECOND: '100000' };

async function nodes(env: Record<string, string>): Promise<{ normal: NodeProc; behind: NodeProc; ahead: NodeProc; stop(): Promise<void> }> {
  const prefix = uniquePrefix();
  const started: NodeProc[] = [];
  const start = async (extra: Record<string, string>) => {
    const n = await startNodeProcess({ CHAT_REDIS_KEY_PREFIX: prefix, ...FAST, ...env, ...extra });
    started.push(n);
    return n;
  };
  const stop = async () => {
    for (const n of started) n.proc.kill('SIGTERM');
    await Promise.all(started.map((n) => n.exited));
  };
  try {
    return { normal: await start({}), behind: await start(skewed('-40s')), ahead: await start(skewed('+40s')), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

describe('clock skew', () => {
  it('past the bound (1 s by default), a node 40 s behind and one 40 s ahead place no ids: sends get the retryable unavailable, /ready says clock', async () => {
    const c = await nodes({});
    try {
      const [alice, bob] = await Promise.all([newUser(c.normal.url), newUser(c.normal.url)]);
      for (const node of [c.behind, c.ahead]) {
        const ready = await api(node.url, 'GET', '/ready');
        expect(ready.status).toBe(503);
        expect(ready.body.unavailable).toEqual(['clock']);
        const ws = await WsClient.connect(node.wsUrl, alice.token, await newDevice(c.normal.url, alice));
        await ws.synced();
        const answer = (await ws.sendAll({ to: bob.userId }, ['skewed'])).get('skewed');
        expect(answer).toMatchObject({ type: 'error', code: 'unavailable', retryable: true });
        await ws.close();
        const metrics = await (await fetch(`${node.url}/metrics`)).text();
        const offset = Number(/^chat_clock_offset_seconds (\S+)$/m.exec(metrics)?.[1]);
        expect(Math.abs(offset - (node === c.behind ? 40 : -40))).toBeLessThan(2);
      }
      // The node with the right time serves as usual.
      expect((await api(c.normal.url, 'GET', '/ready')).status).toBe(200);
      const ws = await WsClient.connect(c.normal.wsUrl, alice.token, await newDevice(c.normal.url, alice));
      await ws.synced();
      expect((await ws.sendAll({ to: bob.userId }, ['fine'])).get('fine').type).toBe('message.ack');
      await ws.close();
    } finally {
      await c.stop();
    }
  }, 60000);

  itRepeated('within a bound raised above the skew, nothing is lost, duplicated or reordered across the behind and the ahead node', async () => {
    // The bound covers the skew; device cursors stay behind the present by more than it.
    const c = await nodes({ CHAT_NODE_MAX_CLOCK_SKEW_MS: '60000', CHAT_SYNC_SAFETY_LAG_MS: '120000' });
    try {
      for (const node of [c.behind, c.ahead]) expect((await api(node.url, 'GET', '/ready')).status).toBe(200);
      await withGroupFlow([c.behind, c.ahead], async (flow) => {
        await flow.burst(10, 'first');
        await flow.burst(10, 'second');
        await flow.expectDelivered();
        expectOnlyRetryableErrors(flow, [c.behind, c.ahead]);
      });
    } finally {
      await c.stop();
    }
  }, 90000);
});
