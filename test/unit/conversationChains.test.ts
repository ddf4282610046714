import { ConversationChains, type ChainItem } from '../../src/chat/ConversationChains';

function item(id: number, prev: number | null, opts: { c?: string; resets?: boolean } = {}): ChainItem<string> {
  return { conversationId: opts.c ?? 'c', id: BigInt(id), prev: prev === null ? null : BigInt(prev), resets: opts.resets ?? false, payload: `m${id}` };
}
const ids = (items: Array<ChainItem<string>>) => items.map((i) => Number(i.id));

describe('ConversationChains', () => {
  it('hands on an id whose predecessor the device has, and holds one that came before its predecessor', () => {
    const chains = new ConversationChains<string>(() => 100n);
    expect(ids(chains.add(item(110, 100)))).toEqual([110]); // predecessor at the cursor's safe point
    expect(ids(chains.add(item(130, 120)))).toEqual([]); // 120 (another node's) has not come yet
    expect(chains.blocked()).toEqual([{ conversationId: 'c', missing: 120n }]);
    expect(chains.lowestMissing()).toBe(120n);
    expect(ids(chains.add(item(140, 130)))).toEqual([]);
    expect(ids(chains.add(item(120, 110)))).toEqual([120, 130, 140]);
    expect(chains.size).toBe(0);
    expect(chains.lowestMissing()).toBeNull();
  });

  it('keeps conversations apart', () => {
    const chains = new ConversationChains<string>(() => 0n);
    chains.add(item(10, null, { c: 'a' }));
    expect(ids(chains.add(item(30, 20, { c: 'a' })))).toEqual([]);
    expect(ids(chains.add(item(25, null, { c: 'b' })))).toEqual([25]);
    expect(ids(chains.add(item(20, 10, { c: 'a' })))).toEqual([20, 30]);
  });

  it('lets an id of a new sequence (no predecessor) wait behind smaller ids already waiting', () => {
    const chains = new ConversationChains<string>(() => 0n);
    chains.add(item(10, null));
    expect(ids(chains.add(item(30, 20)))).toEqual([]);
    expect(ids(chains.add(item(40, null)))).toEqual([]);
    expect(ids(chains.add(item(20, 10)))).toEqual([20, 30, 40]);
  });

  it('hands on an id the device already has past (a copy: the cursor drops it) and keeps one waiting copy of an id', () => {
    const chains = new ConversationChains<string>(() => 0n);
    chains.add(item(10, null));
    chains.add(item(20, 10));
    expect(ids(chains.add(item(10, null)))).toEqual([10]);
    expect(ids(chains.add(item(40, 30)))).toEqual([]);
    expect(ids(chains.add(item(40, 30)))).toEqual([]);
    expect(chains.size).toBe(1);
    expect(ids(chains.add(item(30, 20)))).toEqual([30, 40]);
  });

  it('starts a member at their join: what waits below it is dropped, and anything older later is not theirs', () => {
    const chains = new ConversationChains<string>(() => 0n);
    expect(ids(chains.add(item(50, 40)))).toEqual([]); // read with the new member set, placed before the join
    expect(ids(chains.add(item(70, 60, { resets: true })))).toEqual([70]);
    expect(chains.size).toBe(0);
    expect(ids(chains.add(item(45, 44)))).toEqual([]);
    expect(ids(chains.add(item(80, 70)))).toEqual([80]);
  });

  it('starts a conversation where told (a missing id was before the join): what waits below is dropped', () => {
    const chains = new ConversationChains<string>(() => 0n, (p) => p.length);
    expect(ids(chains.add(item(50, 40)))).toEqual([]);
    expect(ids(chains.add(item(80, 70)))).toEqual([]);
    expect(chains.bytes).toBe(6);
    expect(ids(chains.startAt('c', 70n))).toEqual([]); // 80 still waits for 70, the join itself
    expect(chains.size).toBe(1);
    expect(chains.bytes).toBe(3);
    expect(ids(chains.add(item(60, 50)))).toEqual([]);
    expect(ids(chains.add(item(70, 60, { resets: true })))).toEqual([70, 80]);
    expect(chains.bytes).toBe(0);
  });

  it('counts an id known without a frame (an own send, a void) as had', () => {
    const chains = new ConversationChains<string | null>(() => 0n);
    chains.add({ ...item(10, null), payload: 'm10' });
    expect(chains.add({ ...item(30, 20), payload: 'm30' }).map((i) => i.payload)).toEqual([]);
    expect(chains.add({ ...item(20, 10), payload: null }).map((i) => i.payload)).toEqual([null, 'm30']);
  });
});
