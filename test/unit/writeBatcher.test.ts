import { WriteBatcher, WriteQueueFull, type BatchClient } from '../../src/store/cassandra/WriteBatcher';
import { isTransient } from '../../src/transientErrors';

interface Call {
  queries: string[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A Cassandra client whose round trips the test finishes by hand, in any order. */
function fakeDb(): { db: BatchClient; calls: Call[] } {
  const calls: Call[] = [];
  const round = (queries: string[]) => new Promise<unknown>((resolve, reject) => calls.push({ queries, resolve: () => resolve(undefined), reject }));
  const db = {
    execute: (query: string) => round([query]),
    batch: (qs: Array<{ query: string }>) => round(qs.map((q) => q.query)),
  } as unknown as BatchClient;
  return { db, calls };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('WriteBatcher', () => {
  it('sends a lone write at the end of its turn, and the writes of one turn as one batch', async () => {
    const { db, calls } = fakeDb();
    const w = new WriteBatcher(db);
    const one = w.execute('q1', []);
    expect(calls).toHaveLength(0);
    await turn();
    expect(calls.map((c) => c.queries)).toEqual([['q1']]);
    const more = [w.execute('q2', []), w.execute('q3', []), w.execute('q4', [])];
    await turn();
    expect(calls.map((c) => c.queries)).toEqual([['q1'], ['q2', 'q3', 'q4']]);
    calls.forEach((c) => c.resolve());
    await Promise.all([one, ...more]);
  });

  it('refuses a write at once, as retryable, while maxQueued writes wait (Cassandra slow), and takes writes again once the queue drains', async () => {
    const { db, calls } = fakeDb();
    const w = new WriteBatcher(db, 1, 64, 40 * 1024, 3);
    const sent = w.execute('in flight', []);
    await turn();
    const waiting = ['w1', 'w2', 'w3'].map((q) => w.execute(q, []));
    const refused = w.execute('one too many', []);
    await expect(refused).rejects.toBeInstanceOf(WriteQueueFull);
    expect(isTransient(await refused.catch((err: unknown) => err))).toBe(true);
    expect(w.queued).toBe(3);
    calls[0].resolve();
    await sent;
    await turn();
    expect(calls.map((c) => c.queries)).toEqual([['in flight'], ['w1', 'w2', 'w3']]);
    const later = w.execute('later', []);
    calls[1].resolve();
    await Promise.all(waiting);
    await turn();
    calls[2].resolve();
    await later;
  });

  it('keeps at most maxInFlight batches out; what waits meanwhile goes out as the next batch', async () => {
    const { db, calls } = fakeDb();
    const w = new WriteBatcher(db, 2);
    const first = [w.execute('a', [])];
    await turn();
    first.push(w.execute('b', []));
    await turn();
    const waiting = ['c', 'd', 'e'].map((q) => w.execute(q, []));
    await turn();
    expect(calls).toHaveLength(2);
    calls[1].resolve();
    await turn();
    expect(calls.map((c) => c.queries)).toEqual([['a'], ['b'], ['c', 'd', 'e']]);
    calls[0].resolve();
    calls[2].resolve();
    await Promise.all([...first, ...waiting]);
  });

  it('never lets a key’s later write out while a batch with an earlier one is in flight, whichever batch returns first', async () => {
    const { db, calls } = fakeDb();
    const w = new WriteBatcher(db, 2);
    const settled: string[] = [];
    const track = (q: string, key?: string) => w.execute(q, [], 100, key === undefined ? undefined : { key }).then(() => { settled.push(q); });
    const p1 = track('m1', 'c');
    await turn();
    // m2 (same key) and x1 (another key) arrive while m1's batch is out: only x1 may go.
    const p2 = track('m2', 'c');
    const px = track('x1', 'other');
    const p3 = track('m3', 'c');
    await turn();
    expect(calls.map((c) => c.queries)).toEqual([['m1'], ['x1']]);
    calls[1].resolve(); // the later batch returns first
    await px;
    await turn();
    expect(calls).toHaveLength(2); // m2 still waits for m1
    calls[0].resolve();
    await p1;
    await turn();
    expect(calls.map((c) => c.queries)).toEqual([['m1'], ['x1'], ['m2', 'm3']]);
    calls[2].resolve();
    await Promise.all([p2, p3]);
    expect(settled).toEqual(['x1', 'm1', 'm2', 'm3']);
  });

  it('rejects every write of a failed batch and goes on with the next writes of the key', async () => {
    const { db, calls } = fakeDb();
    const w = new WriteBatcher(db, 2);
    const a = w.execute('a', [], 100, { key: 'c' });
    const b = w.execute('b', [], 100, { key: 'c' });
    await turn();
    const c = w.execute('c', [], 100, { key: 'c' });
    await turn();
    expect(calls.map((x) => x.queries)).toEqual([['a', 'b']]);
    const boom = new Error('timeout');
    calls[0].reject(boom);
    await expect(a).rejects.toBe(boom);
    await expect(b).rejects.toBe(boom);
    await turn();
    expect(calls.map((x) => x.queries)).toEqual([['a', 'b'], ['c']]);
    calls[1].resolve();
    await c;
  });

  it('keeps batches under the byte budget; a write over it goes alone, in its key’s order', async () => {
    const { db, calls } = fakeDb();
    const w = new WriteBatcher(db, 4, 64, 1000);
    const ps = [
      w.execute('s1', [], 400, { key: 'c' }),
      w.execute('big', [], 5000, { key: 'c' }),
      w.execute('s2', [], 400, { key: 'd' }),
      w.execute('s3', [], 400, { key: 'c' }),
    ];
    await turn();
    // s1 and s2 fit one batch; big and s3 (same key as big, after it) wait for s1's batch.
    expect(calls.map((c) => c.queries)).toEqual([['s1', 's2']]);
    calls[0].resolve();
    await turn();
    expect(calls.map((c) => c.queries)).toEqual([['s1', 's2'], ['big']]);
    calls[1].resolve();
    await turn();
    expect(calls.map((c) => c.queries)).toEqual([['s1', 's2'], ['big'], ['s3']]);
    calls[2].resolve();
    await Promise.all(ps);
  });

  it('puts one partition of a key in a batch: a day boundary splits a conversation’s writes into two batches, in order', async () => {
    const { db, calls } = fakeDb();
    const w = new WriteBatcher(db, 2);
    const ps = [
      w.execute('idx-d2', [], 100, { key: 'c' }),
      w.execute('m100-d1', [], 100, { key: 'c', partition: 'd1' }),
      w.execute('m101-d2', [], 100, { key: 'c', partition: 'd2' }),
      w.execute('x-d2', [], 100, { key: 'other', partition: 'd2' }),
    ];
    await turn();
    // The second day's message waits for the first day's batch (its key is then in flight).
    expect(calls.map((c) => c.queries)).toEqual([['idx-d2', 'm100-d1', 'x-d2']]);
    calls[0].resolve();
    await turn();
    expect(calls.map((c) => c.queries)).toEqual([['idx-d2', 'm100-d1', 'x-d2'], ['m101-d2']]);
    calls[1].resolve();
    await Promise.all(ps);
  });
});
