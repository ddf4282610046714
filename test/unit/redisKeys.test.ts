import { parseClusterSeed } from '../../src/store/redis/redis';
import { Keys } from '../../src/store/redis/keys';
import { parseConfig } from '../../src/config/config';

/** The hash tag Redis Cluster hashes: the text between the first `{` and the next `}`. */
function tag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  if (open < 0 || close <= open + 1) throw new Error(`no hash tag in ${key}`);
  return key.slice(open + 1, close);
}

describe('Redis keys: the keys each script or transaction touches together share one hash tag', () => {
  const k = new Keys('chat:');
  it.each([
    ['leaseClaim', [k.node(3), k.nodes()]],
    ['recommendNode, loadReport, the lease view', [k.load(), k.node(1), k.picks(1), k.node(2), k.picks(2), k.nodes()]],
    ['presenceUpdate', [k.routes('u1'), k.presence('u1')]],
    ['sequencePlace', [k.sequence('g_1'), k.sequenceLinks('g_1'), k.groupVersion('g_1'), k.clientMsg('g_1', 'u1', 'c1'), k.clientMsg('g_1', 'u2', 'c9')]],
    ['blocksFill, blocksInvalidate', [k.blocks('u1'), k.blocksGeneration('u1')]],
    ['quotaFill, quotaRelease', [k.activeConversations('u1'), k.activeConversationsGeneration('u1')]],
    ['the stream trim MULTI and the read pipeline', [k.stream(4), k.streamTrimmed(4)]],
    ['a node instance', [k.nodeUsers('4/abc'), k.sweep('4/abc')]],
    ['a user', [k.routes('u1'), k.connSlots('u1'), k.deviceSlots('u1'), k.typing('u1', 'g_1')]],
  ])('%s', (_, keys) => {
    expect(new Set(keys.map(tag)).size).toBe(1);
    for (const key of keys) expect(key.startsWith('chat:{')).toBe(true);
  });

  it('keeps the names of earlier releases for what must survive an upgrade: tokens and token generations (used alone)', () => {
    expect(k.token('abc')).toBe('chat:token:abc');
    expect(k.tokenGeneration('u1')).toBe('chat:token-gen:u1');
  });

  it('different users, conversations and nodes get different tags (so they spread over the slots)', () => {
    expect(tag(k.routes('u1'))).not.toBe(tag(k.routes('u2')));
    expect(tag(k.sequence('g_1'))).not.toBe(tag(k.sequence('g_2')));
    expect(tag(k.stream(1))).not.toBe(tag(k.stream(2)));
    expect(tag(k.routes('x'))).not.toBe(tag(k.sequence('x')));
  });
});

describe('redis.clusterNodes and redis.keyPrefix', () => {
  it('reads host:port seeds and redis:// or rediss:// URLs with credentials', () => {
    const c = parseConfig({ 'redis.clusterNodes': '10.0.0.1:7000, 10.0.0.2:7001,rediss://app:s%3Acret@cfg.example.com:6379' });
    expect(c.redis.clusterNodes).toEqual(['10.0.0.1:7000', '10.0.0.2:7001', 'rediss://app:s%3Acret@cfg.example.com:6379']);
    expect(parseClusterSeed('10.0.0.1:7000')).toEqual({ node: { host: '10.0.0.1', port: 7000 }, tls: false });
    expect(parseClusterSeed('rediss://app:s%3Acret@cfg.example.com:6379')).toEqual({
      node: { host: 'cfg.example.com', port: 6379 }, username: 'app', password: 's:cret', tls: true,
    });
    expect(parseClusterSeed('redis://:pw@[::1]:7000')).toMatchObject({ node: { host: '::1', port: 7000 }, password: 'pw', tls: false });
    expect(parseConfig({}).redis.clusterNodes).toEqual([]);
  });

  it.each([
    [{ 'redis.clusterNodes': '10.0.0.1' }, 'config redis.clusterNodes'],
    [{ 'redis.clusterNodes': 'http://10.0.0.1:7000' }, 'config redis.clusterNodes'],
    // A brace in the prefix would become every key's hash tag: all keys in one slot.
    [{ 'redis.keyPrefix': 'chat{x}:' }, 'config redis.keyPrefix'],
  ])('refuses %j', (raw, message) => {
    expect(() => parseConfig(raw as Record<string, string>)).toThrow(message);
  });
});
