import type { Client } from 'cassandra-driver';
import Redis from 'ioredis';
import { AuthService } from '../../src/auth/AuthService';
import { PasswordHasher } from '../../src/auth/PasswordHasher';
import { TokenStore } from '../../src/store/redis/TokenStore';
import { Keys } from '../../src/store/redis/keys';
import { createCassandraClient } from '../../src/store/cassandra/cassandra';
import { UserRepository } from '../../src/store/cassandra/UserRepository';
import { RevocationRepository } from '../../src/store/cassandra/RevocationRepository';
import { testConfig, uniqueName, uniquePrefix } from '../support/helpers';

/** The real hasher, counting its hashes. */
class CountingHasher extends PasswordHasher {
  hashes = 0;
  override hash(password: string): Promise<string> {
    this.hashes++;
    return super.hash(password);
  }
}

let db: Client;
let redis: Redis;
beforeAll(async () => {
  const config = testConfig();
  db = createCassandraClient(config);
  redis = new Redis(config.redis.url);
  await db.connect();
});
afterAll(async () => {
  await db.shutdown();
  redis.disconnect();
});

describe('signup', () => {
  it('checks that the name is free before it spends a hash on it', async () => {
    const hasher = new CountingHasher(4, 2);
    const auth = new AuthService(new UserRepository(db), new TokenStore(redis, new Keys(uniquePrefix()), 60, new RevocationRepository(db, 60)), hasher,
      { kick: async () => undefined });
    const name = uniqueName('taken');
    await auth.signup(name, 'password-1');
    const before = hasher.hashes;
    await expect(auth.signup(name.toUpperCase(), 'password-2')).rejects.toMatchObject({ code: 'username_taken' });
    expect(hasher.hashes).toBe(before);
  });
});
