import { ConcurrencyGate } from '../../src/chat/mapLimited';

describe('ConcurrencyGate', () => {
  it('runs at most `limit` calls at once, the rest in the order they came, and passes results and errors through', async () => {
    const gate = new ConcurrencyGate(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const releases: Array<() => void> = [];
    const calls = Array.from({ length: 8 }, (_, i) => gate.run(async () => {
      started.push(i);
      running++;
      most = Math.max(most, running);
      await new Promise<void>((r) => releases.push(r));
      running--;
      if (i === 5) throw new Error('five');
      return i;
    }));
    for (const c of calls) c.catch(() => undefined); // judged below, all together
    const settle = () => new Promise((r) => setImmediate(r));
    await settle();
    expect(started).toEqual([0, 1, 2]);
    // Each finishing call lets exactly one waiter in; a call arriving meanwhile does not jump the queue.
    while (releases.length) {
      releases.shift()!();
      await settle();
    }
    const results = await Promise.allSettled(calls);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(3);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([0, 1, 2, 3, 4, 'five', 6, 7]);
  });
});
