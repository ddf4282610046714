import Redis, { Cluster } from 'ioredis';
import { createRedis } from '../../src/store/redis/redis';
import { defineScripts, VARIABLE_KEY_SCRIPTS } from '../../src/store/redis/scripts';
import { parseConfig } from '../../src/config/config';
// The two modules that define the variable-key scripts.
import '../../src/store/redis/ConversationSequence';
import '../../src/cluster/Discovery';

/** Each Lua script is defined by the module that runs it (src/store/redis/scripts.ts). No Redis is contacted here. */
describe('Redis scripts', () => {
  it('are methods of clients, clusters and pipelines, also of a client made before the script was defined', () => {
    const early = new Redis({ lazyConnect: true });
    defineScripts({ scriptsTestProbe: { keys: 1, lua: 'return 1' } });
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    const methods = (c: object) => ['sequencePlace', 'loadReport', 'setIfHigher', 'scriptsTestProbe'].map((m) => typeof (c as Record<string, unknown>)[m]);
    expect(methods(early)).toEqual(['function', 'function', 'function', 'function']);
    expect(methods(early.pipeline())).toEqual(['function', 'function', 'function', 'function']);
    expect(methods(cluster)).toEqual(['function', 'function', 'function', 'function']);
    early.disconnect();
    cluster.disconnect();
  });

  it('refuses one name for two different scripts (a caller would run the other one), and accepts the same definition again', () => {
    defineScripts({ scriptsTestTwice: { keys: 1, lua: 'return 1' } });
    expect(() => defineScripts({ scriptsTestTwice: { keys: 1, lua: 'return 1' } })).not.toThrow();
    expect(() => defineScripts({ scriptsTestTwice: { keys: 1, lua: 'return 2' } })).toThrow(/defined twice/);
  });

  it('keeps the variable-key scripts out of Redis Cluster auto-pipelining, including ones defined after the client was made', () => {
    const config = parseConfig({ 'redis.clusterNodes': '127.0.0.1:1' });
    const client = createRedis(config, 'scripts-test') as Cluster;
    defineScripts({ scriptsTestVariable: { keys: 'variable', lua: 'return 1' } });
    const ignored = client.options.autoPipeliningIgnoredCommands ?? [];
    expect(ignored).toEqual(expect.arrayContaining(['sequencePlace', 'recommendNode', 'scriptsTestVariable']));
    expect(ignored).toBe(VARIABLE_KEY_SCRIPTS);
    expect(ignored).not.toContain('setIfHigher');
    client.disconnect();
  });
});
