import { Client, types, type QueryOptions, type tracker } from 'cassandra-driver';
import { isTransient } from '../../transientErrors';
import type { Config, Consistency } from '../../config/config';

const CONSISTENCY: Record<Consistency, number> = {
  quorum: types.consistencies.quorum,
  localQuorum: types.consistencies.localQuorum,
  eachQuorum: types.consistencies.eachQuorum,
  all: types.consistencies.all,
};

/**
 * A driver client for the cluster in `config`; `withKeyspace` false for the migration client (the keyspace may not exist yet).
 * `requestTracker` is told of every request (metrics: chat_cassandra_request_seconds).
 */
export function createCassandraClient(config: Config, withKeyspace = true, requestTracker?: tracker.RequestTracker): Client {
  const { cassandra } = config;
  // The driver connects to the peers it discovers on `protocolOptions.port` (9042 unless told): the
  // native port of the contact points, so a cluster on other ports is used whole, not just its seed.
  const port = Number(cassandra.contactPoints[0].slice(cassandra.contactPoints[0].lastIndexOf(':') + 1));
  return new Client({
    contactPoints: cassandra.contactPoints,
    localDataCenter: cassandra.localDataCenter,
    keyspace: withKeyspace ? cassandra.keyspace : undefined,
    protocolOptions: { port },
    // Every statement is idempotent (plain inserts, updates and deletes of fixed values; no counters
    // or list appends) except the two lightweight transactions, which say so themselves: so a
    // request that met a node going down is retried on another replica instead of failing.
    queryOptions: { consistency: CONSISTENCY[cassandra.consistency], serialConsistency: types.consistencies.serial, prepare: true, isIdempotent: true },
    socketOptions: { connectTimeout: 5000, readTimeout: cassandra.requestTimeoutMs },
    pooling: { warmup: true },
    ...(requestTracker ? { requestTracker } : {}),
  });
}

/**
 * Runs a lightweight transaction and says whether it took effect. Its outcome is unknown when it
 * fails as transient (Paxos contention timed out, a replica lost mid-round, the connection dropped):
 * then `settle` reads the row at SERIAL (which completes any round still in progress) and says
 * whether this transaction took effect (true or false), or that nothing did (null: it runs again).
 * Without this, racing LWTs on a cluster answer 503 although one of them may have won.
 */
export async function lightweightTransaction(db: Client, query: string, params: unknown[],
  settle: (serial: QueryOptions) => Promise<boolean | null>, attempts = 3): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await db.execute(query, params, { isIdempotent: false })).wasApplied();
    } catch (err) {
      if (!isTransient(err) || attempt >= attempts) throw err;
      const outcome = await settle({ consistency: types.consistencies.serial });
      if (outcome !== null) return outcome;
    }
  }
}

/**
 * A row's columns as the table's schema types them (`T` names the columns a mapper reads). The
 * driver types every column as any; this says once per mapper what each really is.
 */
export function columns<T>(row: types.Row): T {
  return row as unknown as T;
}

export const Long = types.Long;
export type Long = types.Long;

export function toLong(id: bigint): types.Long {
  return types.Long.fromString(id.toString());
}

export function fromLong(v: types.Long): bigint {
  return BigInt(v.toString());
}
