import { execFile } from 'node:child_process';
import path from 'node:path';
import { ROOT, startCluster, type TestCluster } from '../support/helpers';

/**
 * A tiny run of the bench load generator's code paths (set-up through the client SDK, raw sockets
 * for the measured part), so `npm run bench` does not find out first that they broke.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function loadgen(scenario: string, args: object): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(ROOT, 'bench', 'loadgen.js'), scenario, JSON.stringify(args)], { timeout: 60000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      const result = stdout.trim().split('\n').map((l) => JSON.parse(l)).find((l) => l.phase === 'result');
      if (!result) return reject(new Error(`no result line:\n${stdout}\n${stderr}`));
      resolve(result.result);
    });
  });
}

describe('bench load generator (smoke)', () => {
  let cluster: TestCluster;
  // Bench senders write faster than the default per-connection frame limit (the bench's nodes run without it too).
  beforeAll(async () => { cluster = await startCluster(2, { CHAT_WS_MAX_FRAMES_PER_SECOND: '100000' }); });
  afterAll(async () => { await cluster.stop(); });
  const nodes = () => cluster.nodes.map((n) => ({ url: n.url, wsUrl: n.wsUrl }));

  it('1:1 and group scenarios deliver every message once', async () => {
    const rate = await loadgen('rate', { nodes: nodes(), pairs: 2, rate: 20, warmupMs: 0, durationMs: 500 });
    expect(rate.sent).toBeGreaterThan(0);
    expect(rate).toMatchObject({ acked: rate.sent, lost: 0, duplicated: 0 });
    const group = await loadgen('group', { nodes: nodes(), size: 3, groups: 2, rate: 20, warmupMs: 0, durationMs: 500 });
    expect(group).toMatchObject({ acked: group.sent, lost: 0, duplicated: 0 });
  });

  it('history scenario lists conversations through the SDK and reads pages', async () => {
    // The prefill runs prefill × pairs / 20 ms at 2,000 msg/s: 200 ms, so every pair has a conversation to read.
    const h = await loadgen('history', { nodes: nodes(), pairs: 2, rate: 20, readRate: 10, durationMs: 500, prefill: 2000 });
    expect(h.readErrors).toBe(0);
    expect(h.reads.count).toBeGreaterThan(0);
  });
});
