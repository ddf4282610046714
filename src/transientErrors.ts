import { errors as cassandraErrors, types } from 'cassandra-driver';

const codes = types.responseErrorCodes;

/** Cassandra answers that mean "overloaded, unreachable or slow right now", not "your query is wrong". */
const TRANSIENT_CQL_CODES: ReadonlySet<number> = new Set([
  codes.serverError, codes.unavailableException, codes.overloaded, codes.isBootstrapping, codes.truncateError,
  codes.writeTimeout, codes.readTimeout, codes.readFailure, codes.writeFailure,
]);

/** Redis replies (their first word) from a server that is loading, failing over or out of reach of its replicas. */
const TRANSIENT_REDIS_REPLIES: ReadonlySet<string> = new Set([
  'LOADING', 'CLUSTERDOWN', 'MASTERDOWN', 'TRYAGAIN', 'BUSY', 'READONLY', 'NOREPLICAS', 'MISCONF', 'OOM',
  // Slots moving (a failover, a resharding) that the cluster client did not follow itself.
  'MOVED', 'ASK',
]);

/** Messages of plain Errors ioredis rejects commands with when its connection is gone or slow. */
const REDIS_CONNECTION_MESSAGES: ReadonlySet<string> = new Set([
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
  // Cluster mode: every seed unreachable, or slots moving (a failover) longer than the redirections allow.
  'None of startup nodes is available',
  'Failed to refresh slots cache.',
  "Cluster isn't ready and enableOfflineQueue options is false",
]);

/** Beginnings of ioredis Cluster error messages that carry the last node's error after them. */
const REDIS_CLUSTER_PREFIXES = ['Too many Cluster redirections', 'Connection is closed'];

/** Node socket errors: the peer is unreachable or went away. */
const SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED',
]);

/**
 * Whether `err` is a storage or Redis failure that may pass (a driver timeout, a lost connection,
 * a server loading or failing over): the request may succeed if sent again. Anything else (a
 * TypeError, a query Cassandra rejects as invalid) is a bug, and retrying it would not help.
 * An error that wraps a transient cause (`cause`) counts as transient.
 */
export function isTransient(err: unknown, depth = 0): boolean {
  // Not `instanceof Error`: errors made by Node itself (sockets) come from another realm under a test runner's sandbox.
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  if (err instanceof cassandraErrors.NoHostAvailableError || err instanceof cassandraErrors.OperationTimedOutError
    || err instanceof cassandraErrors.BusyConnectionError) return true;
  if (err instanceof cassandraErrors.ResponseError) return TRANSIENT_CQL_CODES.has(err.code);
  // ioredis: MaxRetriesPerRequestError and a flushed queue (both AbortErrors), a reply from a server not ready.
  const { name, message, code, cause } = err as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown };
  if (name === 'MaxRetriesPerRequestError' || name === 'AbortError' || name === 'ClusterAllFailedError') return true;
  // Our own write queue, full while Cassandra is slow (src/store/cassandra/WriteBatcher.ts).
  if (name === 'WriteQueueFull') return true;
  if (typeof message === 'string') {
    if (name === 'ReplyError') return TRANSIENT_REDIS_REPLIES.has(message.split(' ', 1)[0]);
    if (REDIS_CONNECTION_MESSAGES.has(message) || REDIS_CLUSTER_PREFIXES.some((p) => message.startsWith(p))) return true;
  }
  if (typeof code === 'string' && SOCKET_CODES.has(code)) return true;
  return isTransient(cause, depth + 1);
}
