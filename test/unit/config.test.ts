import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, envName, loadConfig, parseConfig } from '../../src/config/config';

describe('envName', () => {
  it.each([
    ['redis.url', 'CHAT_REDIS_URL'],
    ['cassandra.contactPoints', 'CHAT_CASSANDRA_CONTACT_POINTS'],
    ['auth.bcryptRounds', 'CHAT_AUTH_BCRYPT_ROUNDS'],
    ['node.id', 'CHAT_NODE_ID'],
    ['redis.keyPrefix', 'CHAT_REDIS_KEY_PREFIX'],
    ['rateLimit.signupsPerIpPerHour', 'CHAT_RATE_LIMIT_SIGNUPS_PER_IP_PER_HOUR'],
    ['metrics.token', 'CHAT_METRICS_TOKEN'],
  ])('%s -> %s', (key, env) => expect(envName(key)).toBe(env));
});

describe('loadConfig', () => {
  const file = path.join(os.tmpdir(), `chat-config-${process.pid}.properties`);
  afterEach(() => fs.rmSync(file, { force: true }));

  it('reads the project app.properties with its defaults', () => {
    const c = loadConfig({});
    expect(c.chat.maxContentChars).toBe(100000);
    expect(c.cassandra.contactPoints).toEqual(['127.0.0.1:9042']);
    expect(c.node.id).toBeNull();
  });

  it('lets CHAT_* variables override the file', () => {
    fs.writeFileSync(file, 'redis.url=redis://10.0.0.1:6379\nauth.bcryptRounds=12\n');
    const c = loadConfig({ CHAT_AUTH_BCRYPT_ROUNDS: '5', CHAT_CASSANDRA_CONTACT_POINTS: 'a:1, b:2', CHAT_NODE_ID: '7' }, file);
    expect(c.redis.url).toBe('redis://10.0.0.1:6379');
    expect(c.auth.bcryptRounds).toBe(5);
    expect(c.cassandra.contactPoints).toEqual(['a:1', 'b:2']);
    expect(c.node.id).toBe(7);
  });

  it('is frozen', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.redis)).toBe(true);
  });

  it('fails on a missing file', () => {
    expect(() => loadConfig({}, '/nonexistent/app.properties')).toThrow(ConfigError);
  });
});

describe('parseConfig validation names the key', () => {
  it.each([
    [{ 'auth.bcryptRounds': 'ten' }, 'auth.bcryptRounds'],
    [{ 'auth.bcryptRounds': '40' }, 'auth.bcryptRounds'],
    [{ 'node.id': '1024' }, 'node.id'],
    [{ 'cassandra.contactPoints': 'localhost' }, 'cassandra.contactPoints'],
    [{ 'cassandra.consistency': 'most' }, 'cassandra.consistency'],
    [{ 'cassandra.consistency': 'one' }, 'cassandra.consistency'],
    [{ 'cassandra.keyspace': 'Bad-Name' }, 'cassandra.keyspace'],
    [{ 'redis.url': 'http://x' }, 'redis.url'],
    [{ 'server.publicWsUrl': 'http://x' }, 'server.publicWsUrl'],
    [{ 'chat.maxContentChars': '0' }, 'chat.maxContentChars'],
    [{ 'redis.ulr': 'redis://x' }, 'redis.ulr'],
    [{ 'sync.safetyLagMs': '20000' }, 'sync.safetyLagMs'], // below 2 x the 15 s lease
    [{ 'chat.maxGroupMembers': '1' }, 'chat.maxGroupMembers'],
  ])('%j', (raw, key) => {
    try {
      parseConfig(raw as Record<string, string>);
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).key).toBe(key);
      expect((err as Error).message).toContain(key);
    }
  });
});

describe('parseConfig messages', () => {
  it.each([
    [{ 'auth.bcryptRounds': 'ten' }, 'config auth.bcryptRounds: "ten" is not an integer'],
    [{ 'auth.bcryptRounds': '40' }, 'config auth.bcryptRounds: 40 is outside 4..15'],
    [{ 'cassandra.consistency': 'most' }, 'config cassandra.consistency: "most" is not one of quorum, localQuorum, eachQuorum, all'],
    [{ 'server.trustProxy': 'yes' }, 'config server.trustProxy: "yes" is not true or false'],
    [{ 'ws.allowedOrigins': 'https://a.example, ftp://b' }, 'config ws.allowedOrigins: "ftp://b" does not match'],
    [{ 'cassandra.contactPoints': ' , ' }, 'config cassandra.contactPoints: needs at least one value'],
    [{ 'sync.safetyLagMs': '20000' }, 'config sync.safetyLagMs: must be at least 2 x node.leaseTtlSeconds (30000 ms)'],
    [{ 'push.provider': 'webhook' }, 'config push.webhookUrl: must be an http(s) URL when push.provider=webhook'],
    [{ 'presence.timeoutMs': '10000' }, 'config presence.timeoutMs: must be longer than ws.pingIntervalMs (10000)'],
    // Removed: nothing read it.
    [{ 'presence.heartbeatIntervalMs': '5000' }, 'config presence.heartbeatIntervalMs: is not a known key'],
  ])('%j', (raw, message) => {
    expect(() => parseConfig(raw as Record<string, string>)).toThrow(message);
  });

  it('reads lists, booleans, nulls and the defaults of unset keys', () => {
    const c = parseConfig({ 'ws.allowedOrigins': 'https://a.example, http://b.example:8080', 'server.trustProxy': 'true', 'push.provider': 'webhook', 'push.webhookUrl': 'https://push.example/x' });
    expect(c.ws.allowedOrigins).toEqual(['https://a.example', 'http://b.example:8080']);
    expect(c.server.trustProxy).toBe(true);
    expect(c.push.webhookUrl).toBe('https://push.example/x');
    expect(c.server.publicWsUrl).toBeNull();
    expect(c.server.corsOrigins).toEqual([]);
    expect(c.metrics.token).toBe('');
    expect(Object.isFrozen(c.ws.allowedOrigins)).toBe(true);
  });
});
