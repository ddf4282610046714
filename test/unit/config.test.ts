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
