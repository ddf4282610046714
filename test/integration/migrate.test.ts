import type { Client } from 'cassandra-driver';
import { createCassandraClient } from '../../src/store/cassandra/cassandra';
import { readMigrations, runMigrations } from '../../src/store/migrate';
import { createLogger } from '../../src/log';
import { testConfig, uniqueName } from '../support/helpers';

/** The migrations on a keyspace of their own (the run's keyspace is already migrated by the global setup). */
describe('migrations', () => {
  const keyspace = uniqueName('mig').toLowerCase();
  const config = testConfig({ 'cassandra.keyspace': keyspace });
  const log = createLogger('warn', { name: 'test-migrate' });
  let db: Client;
  beforeAll(async () => {
    db = createCassandraClient(config, false);
    await db.connect();
  });
  afterAll(async () => {
    await db.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await db.shutdown();
  });

  const columns = async (table: string) => (await db.execute(
    'SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?', [keyspace, table])).rows.map((r) => r.column_name as string).sort();

  it('apply every file once, then nothing', async () => {
    expect(await runMigrations(config, log)).toBe(readMigrations().length);
    expect(await runMigrations(config, log)).toBe(0);
    expect(await columns('messages')).toContain('prev_id');
  });

  it('run again whole over the tables they made (a crash before a migration was recorded): every statement is idempotent', async () => {
    const before = await Promise.all(['conversations', 'user_conversations', 'messages'].map(columns));
    await db.execute(`TRUNCATE ${keyspace}.schema_migrations`);
    expect(await runMigrations(config, log)).toBe(readMigrations().length);
    expect(await Promise.all(['conversations', 'user_conversations', 'messages'].map(columns))).toEqual(before);
  });
});
