import { OrderedCommits } from '../../src/chat/OrderedCommits';

/** A promise the test settles by hand. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('OrderedCommits', () => {
  it('routes in submission order when the writes finish in reverse order', async () => {
    const commits = new OrderedCommits();
    const routed: number[] = [];
    const writes = Array.from({ length: 5 }, () => deferred());
    const done = writes.map((w, i) => commits.submit('c', w.promise, async () => { routed.push(i); return i; }));
    for (let i = 4; i >= 1; i--) writes[i].resolve();
    await flush();
    expect(routed).toEqual([]); // all wait for the first write
    writes[0].resolve();
    expect(await Promise.all(done)).toEqual([0, 1, 2, 3, 4]);
    expect(routed).toEqual([0, 1, 2, 3, 4]);
  });

  it('starts a route step once the one before was called, not finished (routing is pipelined)', async () => {
    const commits = new OrderedCommits();
    const firstRoute = deferred();
    const calls: string[] = [];
    const a = commits.submit('c', Promise.resolve(), () => { calls.push('a'); return firstRoute.promise; });
    const b = commits.submit('c', Promise.resolve(), async () => { calls.push('b'); });
    await b;
    expect(calls).toEqual(['a', 'b']);
    firstRoute.resolve();
    await a;
  });

  it('skips a submission whose write failed, rejects it with that error, and goes on with the next', async () => {
    const commits = new OrderedCommits();
    const routed: string[] = [];
    const boom = new Error('write failed');
    const a = commits.submit('c', Promise.reject(boom), async () => { routed.push('a'); });
    const b = commits.submit('c', Promise.resolve(), async () => { routed.push('b'); });
    await expect(a).rejects.toBe(boom);
    await b;
    expect(routed).toEqual(['b']);
  });

  it('keeps keys independent: a slow write holds back only its own conversation', async () => {
    const commits = new OrderedCommits();
    const slow = deferred();
    const routed: string[] = [];
    const a = commits.submit('c1', slow.promise, async () => { routed.push('c1'); });
    await commits.submit('c2', Promise.resolve(), async () => { routed.push('c2'); });
    expect(routed).toEqual(['c2']);
    slow.resolve();
    await a;
    expect(routed).toEqual(['c2', 'c1']);
  });

  it('drain waits for writes, route steps, and submissions made meanwhile', async () => {
    const commits = new OrderedCommits();
    const write = deferred();
    const route = deferred();
    let finished = false;
    void commits.submit('c', write.promise, () => route.promise);
    const drained = commits.drain().then(() => { finished = true; });
    write.resolve();
    await flush();
    expect(finished).toBe(false);
    const late = deferred();
    void commits.submit('c', Promise.resolve(), () => late.promise);
    route.resolve();
    await flush();
    expect(finished).toBe(false);
    late.resolve();
    await drained;
    expect(commits.size).toBe(0);
  });

  it('routes in reservation order (id order), whatever order the slots are committed in; a cancelled slot is skipped', async () => {
    const commits = new OrderedCommits();
    const routed: string[] = [];
    const first = commits.reserve('c');
    const second = commits.reserve('c');
    const third = commits.reserve('c');
    const fourth = commits.reserve('c');
    // Committed out of order (the second send's claim came back first), one send refused.
    const p4 = fourth.commit(Promise.resolve(), async () => { routed.push('fourth'); });
    const p2 = second.commit(Promise.resolve(), async () => { routed.push('second'); });
    await flush();
    expect(routed).toEqual([]);
    third.cancel();
    const p1 = first.commit(Promise.resolve(), async () => { routed.push('first'); });
    await Promise.all([p1, p2, p4]);
    expect(routed).toEqual(['first', 'second', 'fourth']);
    expect(commits.size).toBe(0);
  });
});
