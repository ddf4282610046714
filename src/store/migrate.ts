import fs from 'node:fs';
import path from 'node:path';
import type { ClientContext, Result } from 'ioredis';
import type { Client } from 'cassandra-driver';
import type { RedisClient } from './redis/redis';
import { createRedis } from './redis/redis';
import type { Config } from '../config/config';
import type { Logger } from '../log';
import { createCassandraClient } from './cassandra/cassandra';
import { Keys } from './redis/keys';
import { upgradeKeyLayout } from './redis/keyLayout';
import { defineScripts } from './redis/scripts';

defineScripts({
  /** Deletes the migration lock only if it still holds this process's token. */
  lockRelease: { keys: 1, lua: `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    lockRelease(lockKey: string, token: string): Result<number, Context>;
  }
}

export const CQL_DIR = path.resolve(__dirname, '..', '..', 'cql');

interface Migration {
  id: number;
  name: string;
  statements: string[];
}

/** Reads cql/NNN_name.cql files in order; statements are split on `;` at line ends, `--` comments dropped. */
export function readMigrations(dir = CQL_DIR): Migration[] {
  return fs.readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.cql$/.test(f))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(dir, file), 'utf8')
        .split('\n').filter((l) => !l.trim().startsWith('--')).join('\n');
      const statements = text.split(/;\s*(?:\n|$)/).map((s) => s.trim()).filter(Boolean);
      return { id: Number(file.slice(0, 3)), name: file.replace(/\.cql$/, ''), statements };
    });
}

/**
 * Applies the schema idempotently: keyspace (with the configured replication factor), then every
 * migration not yet recorded. Several nodes starting at once take turns through a Redis lock, since
 * concurrent DDL from different coordinators can leave Cassandra with conflicting table ids.
 */
export async function migrate(client: Client, redis: RedisClient, config: Config, log: Logger): Promise<number> {
  const ks = config.cassandra.keyspace;
  const lockKey = `${config.redis.keyPrefix}migrate-lock:${ks}`;
  const token = `${process.pid}-${Math.random()}`;
  const deadline = Date.now() + 120_000;
  while ((await redis.set(lockKey, token, 'PX', 60_000, 'NX')) !== 'OK') {
    if (Date.now() > deadline) throw new Error(`migration lock ${lockKey} still held after 120 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const ddl = (stmt: string) => executeDdl(client, stmt);
  try {
    await ddl(`CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${config.cassandra.replicationFactor}}`);
    await ddl(`CREATE TABLE IF NOT EXISTS ${ks}.schema_migrations (id int PRIMARY KEY, name text, applied_at timestamp)`);
    const done = new Set((await client.execute(`SELECT id FROM ${ks}.schema_migrations`)).rows.map((r) => r.id as number));
    let applied = 0;
    for (const m of readMigrations()) {
      if (done.has(m.id)) continue;
      log.info({ keyspace: ks, migration: m.name }, 'applying migration');
      // Every statement is IF NOT EXISTS (CQL 4.1+ has it for ALTER TABLE ... ADD too), so a re-run
      // after a crash half-way through a migration applies the rest.
      for (const stmt of m.statements) await ddl(qualify(stmt, ks));
      await client.execute(`INSERT INTO ${ks}.schema_migrations (id, name, applied_at) VALUES (?, ?, ?)`,
        [m.id, m.name, new Date()], { prepare: true });
      applied++;
    }
    await upgradeKeyLayout(redis, new Keys(config.redis.keyPrefix), log);
    return applied;
  } finally {
    await redis.lockRelease(lockKey, token);
  }
}

/** How long a schema change may take to reach every node before the migration gives up. */
const SCHEMA_AGREEMENT_MS = 120_000;

/**
 * Runs one DDL statement and waits until every node has the new schema. The driver waits only
 * 10 s; on a loaded cluster a change can take longer to spread, and the next statement (or the
 * first query of a node starting up) then meets a coordinator that has not heard of the keyspace.
 */
async function executeDdl(client: Client, stmt: string): Promise<void> {
  // Never sent twice: a retry on another coordinator while the first still runs is the
  // conflicting-table-id case the migration lock is for.
  const rs = await client.execute(stmt, [], { isIdempotent: false });
  // Both are in the driver (NODEJS-345) but missing from its typings.
  if ((rs.info as { isSchemaInAgreement?: boolean }).isSchemaInAgreement !== false) return;
  const metadata = client.metadata as unknown as { checkSchemaAgreement(): Promise<boolean> };
  const deadline = Date.now() + SCHEMA_AGREEMENT_MS;
  while (!(await metadata.checkSchemaAgreement())) {
    if (Date.now() > deadline) {
      throw new Error(`schema change not seen by every Cassandra node after ${SCHEMA_AGREEMENT_MS / 1000} s ` +
        `(is a node down?): ${stmt.slice(0, 80)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Puts the keyspace in front of table names so migrations need no USE (the client has no keyspace yet). */
function qualify(stmt: string, ks: string): string {
  return stmt.replace(/^(CREATE TABLE IF NOT EXISTS|CREATE TABLE|ALTER TABLE|CREATE INDEX IF NOT EXISTS \w+ ON|DROP TABLE IF EXISTS)\s+(\w+)/i,
    (_m, verb: string, table: string) => `${verb} ${ks}.${table}`);
}

/** Connects its own Redis and Cassandra clients, migrates, and closes them (npm run migrate, node start-up). */
export async function runMigrations(config: Config, log: Logger): Promise<number> {
  const redis = createRedis(config, 'chat-migrate');
  const client = createCassandraClient(config, false);
  try {
    await redis.connect();
    await client.connect();
    return await migrate(client, redis, config, log);
  } finally {
    await Promise.allSettled([client.shutdown(), redis.quit()]);
  }
}
