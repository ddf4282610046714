import { z } from 'zod';
import { settleAfterMs } from '../chat/CommitPipeline';

/**
 * Every config key, declared once: its type, bounds or allowed values, default and doc. The Config
 * type, the loader (app.properties + CHAT_* variables), the docs/CONFIG.md table and app.properties are all
 * derived from this (src/config/config.ts, src/config/docs.ts; `npm run docs:config` rewrites the
 * generated files). A key is `<section>.<field>`, its variable CHAT_ + the key in upper snake case.
 */

/** An origin as browsers send it: scheme://host[:port], no path. */
const ORIGIN = /^https?:\/\/[A-Za-z0-9.\-[\]:]+$/;
const HOST_PORT = /^[A-Za-z0-9.\-:[\]]+:\d{1,5}$/;
/** A Redis Cluster seed: host:port, or a redis:// or rediss:// URL with a port (credentials allowed). */
const CLUSTER_SEED = /^(rediss?:\/\/([^@/\s]+@)?)?[A-Za-z0-9.\-[\]:]+:\d{1,5}\/?$/;

/**
 * Quorum or stronger only: a node settling a missing id reads it to decide whether it may bury it, so
 * reads must see every acked write (with `one` a stale replica would get an acked message buried).
 */
export const CONSISTENCIES = ['quorum', 'localQuorum', 'eachQuorum', 'all'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

const origins = (doc: string) => z.array(z.string().regex(ORIGIN)).default([]).describe(doc);

const sections = {
  server: z.object({
    host: z.string().default('127.0.0.1').describe('Interface the HTTP/WebSocket server binds to.'),
    publicWsUrl: z.string().regex(/^wss?:\/\/.+/).nullable().default(null)
      .describe('WebSocket URL (ws:// or wss://) clients are told to use for this node; empty = `ws://<server.host>:<port>/ws`.'),
    trustProxy: z.boolean().default(false)
      .describe('Take the client IP from X-Forwarded-For, one hop (only behind a proxy you run; otherwise clients could forge it).'),
    corsOrigins: origins('Comma-separated origins (`https://chat.example.com`) allowed to call the REST API from a browser; empty = any.'),
  }),
  rateLimit: z.object({
    enabled: z.boolean().default(true)
      .describe('Cluster-wide REST limits kept in Redis (429 `rate_limited` with Retry-After); false turns off the login, signup, per-user and groups-per-hour limits (load tests).'),
    loginFailuresPerWindow: z.int().min(1).max(1_000_000).default(10)
      .describe('Failed logins per (username, client IP) within `rateLimit.loginWindowSeconds`; a correct login from another IP still works.'),
    loginWindowSeconds: z.int().min(1).max(86400).default(900).describe('Window of `rateLimit.loginFailuresPerWindow`.'),
    signupsPerIpPerHour: z.int().min(1).max(10_000_000).default(20).describe('Signups per client IP per hour.'),
    requestsPerUserPerMinute: z.int().min(1).max(10_000_000).default(600).describe('REST requests per user per minute.'),
    maxConcurrentHashes: z.int().min(1).max(64).default(2)
      .describe('bcrypt hashes and compares running at once on one node (each holds a libuv thread); the rest queue.'),
  }),
  redis: z.object({
    url: z.string().regex(/^rediss?:\/\/.+/).default('redis://127.0.0.1:6379').describe('Redis (7.0+: Streams, consumer groups), standalone; ignored when `redis.clusterNodes` is set.'),
    clusterNodes: z.array(z.string().regex(CLUSTER_SEED)).default([])
      .describe('Redis Cluster seeds, comma-separated, each `host:port` or `redis://[user:pass@]host:port` (`rediss://` for TLS); set = cluster mode (ioredis Cluster), and `redis.url` is ignored.'),
    keyPrefix: z.string().regex(/^[A-Za-z0-9:_.\-]{1,64}$/).default('chat:')
      .describe('Prefix of every Redis key this cluster writes; several clusters can share one Redis. No braces: each key carries its own hash tag after it.'),
  }),
  cassandra: z.object({
    contactPoints: z.array(z.string().regex(HOST_PORT)).min(1).default(['127.0.0.1:9042']).describe('Comma-separated `host:port` list.'),
    localDataCenter: z.string().default('datacenter1').describe("The driver's local data center."),
    keyspace: z.string().regex(/^[a-z][a-z0-9_]{0,47}$/).default('streamchat').describe('Keyspace; created if missing.'),
    replicationFactor: z.int().min(1).max(9).default(1).describe('Used when the keyspace is created (SimpleStrategy).'),
    consistency: z.enum(CONSISTENCIES).default('localQuorum').describe('Consistency of reads and writes (quorum or stronger: settling a missing id must read every acked write).'),
    maxQueuedWrites: z.int().min(100).max(10_000_000).default(10000)
      .describe('Writes that may wait for Cassandra per queue (messages; cursors and receipts) while it is slow; past it, a send gets the retryable `unavailable` at once.'),
    requestTimeoutMs: z.int().min(1000).max(30000).default(12000)
      .describe("How long the driver waits for a replica's reply before it tries the next one or fails the request (a message write failed this way is buried, and its send gets the retryable `unavailable`). Keep it above Cassandra's own timeouts (writes 2 s, reads 5 s): below them an answer on its way is given up, and a lightweight transaction's outcome is unknown more often."),
  }),
  node: z.object({
    id: z.int().min(0).max(1023).nullable().default(null)
      .describe('Snowflake node id; empty = the lowest free id among live nodes, allocated through Redis.'),
    leaseTtlSeconds: z.int().min(3).max(3600).default(15)
      .describe("Seconds a node's lease (id, routes, discovery entry) lives without a refresh: a crashed node's entries expire after this."),
    maxClockSkewMs: z.int().min(100).max(600_000).default(1000)
      .describe("How far this node's clock may be from Redis's (`TIME`, measured at each lease refresh) before it stops placing message ids: sends get the retryable `unavailable` and `/ready` answers 503 (`clock`). Raise it only with `sync.safetyLagMs` covering the skew."),
  }),
  auth: z.object({
    bcryptRounds: z.int().min(4).max(15).default(10).describe('bcrypt cost.'),
    tokenTtlSeconds: z.int().min(2).max(31 * 86400).default(86400)
      .describe('Bearer token lifetime; open sockets close with 4001 when it expires.'),
  }),
  chat: z.object({
    maxContentChars: z.int().min(1).max(1_000_000).default(100000).describe('Maximum message length (UTF-16 code units).'),
    maxGroupMembers: z.int().min(2).max(1000).default(100).describe('Members per group (409 `group_full`).'),
    maxConversationsPerUser: z.int().min(1).max(1_000_000).default(1000)
      .describe('Active conversations (DMs and groups not left) per user; past it, opening a DM, creating a group or being added to one gives 409 `limit_reached`.'),
    groupsPerUserPerHour: z.int().min(1).max(1_000_000).default(30).describe('Groups one user may create per hour (409 `limit_reached`).'),
    maxDevicesPerUser: z.int().min(1).max(10000).default(100).describe('Devices per user (409 `limit_reached`).'),
  }),
  sync: z.object({
    safetyLagMs: z.int().min(1000).max(3_600_000).default(30000)
      .describe("How far behind the present a device's stored sync cursor stays: it covers a message write still in flight and a dead node going unnoticed (at least 2 x `node.leaseTtlSeconds`; plus clock skew between nodes)."),
    maxResponseBytes: z.int().min(64 * 1024).max(1024 * 1024 * 1024).default(4 * 1024 * 1024)
      .describe('Bytes of message content one sync or history response (or catch-up page) carries at most: the page ends early, with the cursor to continue.'),
    maxConcurrentReadsPerUser: z.int().min(1).max(1000).default(4)
      .describe('Sync and history reads one user may run at once on a node (more: 429 `rate_limited`).'),
    sequenceTtlSeconds: z.int().min(40).max(86400).default(600)
      .describe("How long Redis keeps a conversation's sequence and its recent links (void marks included) after its last placement. It must outlast a message write in flight (30 s) plus twice `node.maxClockSkewMs`. Voids are also recorded in Cassandra, so this bounds Redis memory, not what devices can catch up on."),
  }),
  ws: z.object({
    pingIntervalMs: z.int().min(100).max(600000).default(10000).describe('Server ping interval (pongs count as activity).'),
    maxBufferedBytes: z.int().min(64 * 1024).max(1024 * 1024 * 1024).default(8 * 1024 * 1024)
      .describe('Bytes queued to one socket before it is closed as a slow consumer (4008).'),
    maxFramesPerSecond: z.int().min(1).max(100000).default(200).describe('Frames per second a connection may send (token bucket; burst = 2x).'),
    maxControlFrameBytes: z.int().min(1024).max(1024 * 1024).default(16384)
      .describe('Largest frame other than message.send, in bytes; message.send may carry `chat.maxContentChars`.'),
    maxInboundBytesPerSecond: z.int().min(64 * 1024).max(1024 * 1024 * 1024).default(2 * 1024 * 1024)
      .describe('Inbound bytes per second per connection (token bucket; burst = 2x); past it, frames get `rate_limited`.'),
    maxConnectionsPerUser: z.int().min(1).max(100000).default(20)
      .describe('Open sockets per user across the cluster; past it the upgrade gets 429.'),
    maxConnections: z.int().min(1).max(10_000_000).default(50000).describe('Open sockets per node; past it the upgrade gets 503.'),
    allowedOrigins: origins('Comma-separated origins allowed to open a WebSocket (the browser Origin header); empty = any.'),
  }),
  stream: z.object({
    maxLen: z.int().min(100).max(100_000_000).default(10000)
      .describe("Approximate length each node's delivery stream is trimmed to (`XADD MAXLEN ~`). Consumed entries are deleted at once; this bounds the stream of a node that is down or lagging (a lagging node that loses entries to it sees the gap and resyncs its devices from Cassandra)."),
  }),
  presence: z.object({
    timeoutMs: z.int().min(200).max(3_600_000).default(30000)
      .describe('A device silent this long (no frame, no pong) is dropped and counts as gone; longer than `ws.pingIntervalMs`.'),
    typingIntervalMs: z.int().min(0).max(60000).default(1000)
      .describe('`typing` frames pass at most once per this interval per user and conversation.'),
  }),
  push: z.object({
    provider: z.enum(['log', 'webhook']).default('log')
      .describe('Push notifications for users with no connected device: `log` (write them to the log) or `webhook`.'),
    webhookUrl: z.string().nullable().default(null)
      .describe('With `webhook`: http(s) POST target of `{deviceId, pushToken, title, body, conversationId, messageId}`.'),
    maxAttempts: z.int().min(1).max(20).default(4).describe('Tries per notification; after the last, it goes to the dead-letter stream.'),
    retryBaseMs: z.int().min(1).max(600000).default(500).describe('First retry delay, doubling each time.'),
    throttleMs: z.int().min(0).max(86_400_000).default(60000)
      .describe('At most one notification per device and conversation within this window.'),
    delayMs: z.int().min(0).max(600000).default(0)
      .describe('Grace period before notifying: a device that gets the message within it is not notified.'),
    reclaimIdleMs: z.int().min(100).max(3_600_000).default(30000)
      .describe('A job left pending this long by a dead node is taken over by another node.'),
    maxJobsPerSenderPerMinute: z.int().min(1).max(10_000_000).default(600)
      .describe('Push jobs one sender may queue per minute; beyond it their messages still arrive but notify nobody.'),
  }),
  shutdown: z.object({
    timeoutMs: z.int().min(0).max(600000).default(10000).describe('How long SIGTERM waits for in-flight work before the node closes anyway.'),
  }),
  log: z.object({
    level: z.enum(LOG_LEVELS).default('info').describe('Lowest level written.'),
  }),
  metrics: z.object({
    token: z.string().default('').describe('Bearer token for GET /metrics; empty = open (the default `server.host` is loopback anyway).'),
  }),
};

/** Checks that span keys; each names the key to change. */
export const ConfigSchema = z.object(sections).superRefine((c, ctx) => {
  // A node that died between storing and routing a message is noticed when its lease expires; device
  // cursors must still be behind that message then, so the lag has to cover the lease TTL twice over.
  if (c.sync.safetyLagMs < c.node.leaseTtlSeconds * 2000) {
    ctx.addIssue({ code: 'custom', path: ['sync', 'safetyLagMs'],
      message: `must be at least 2 x node.leaseTtlSeconds (${c.node.leaseTtlSeconds * 2000} ms)` });
  }
  // When a sequence expires nothing placed under it may still be acked: a new one then starts with no predecessor.
  if (c.sync.sequenceTtlSeconds * 1000 <= settleAfterMs(c.node.maxClockSkewMs)) {
    ctx.addIssue({ code: 'custom', path: ['sync', 'sequenceTtlSeconds'],
      message: `must be above ${settleAfterMs(c.node.maxClockSkewMs) / 1000} s (a write in flight plus twice node.maxClockSkewMs)` });
  }
  if (c.push.provider === 'webhook' && !/^https?:\/\/.+/.test(c.push.webhookUrl ?? '')) {
    ctx.addIssue({ code: 'custom', path: ['push', 'webhookUrl'], message: 'must be an http(s) URL when push.provider=webhook' });
  }
  if (c.presence.timeoutMs <= c.ws.pingIntervalMs) {
    ctx.addIssue({ code: 'custom', path: ['presence', 'timeoutMs'], message: `must be longer than ws.pingIntervalMs (${c.ws.pingIntervalMs})` });
  }
});

/** A node's configuration: loaded once from app.properties plus CHAT_* variables, validated, frozen. */
export type Config = z.output<typeof ConfigSchema>;
export type Consistency = (typeof CONSISTENCIES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
