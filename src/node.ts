import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Client } from 'cassandra-driver';
import type { RedisClient } from './store/redis/redis';
import { AuthService } from './auth/AuthService';
import { PasswordHasher } from './auth/PasswordHasher';
import { TokenStore } from './store/redis/TokenStore';
import { ClientMessageIds } from './chat/ClientMessageIds';
import { IDEMPOTENCY_TTL_SECONDS } from './chat/model';
import { CommitPipeline, settleAfterMs } from './chat/CommitPipeline';
import { Contacts } from './chat/Contacts';
import { ConversationAccess } from './chat/ConversationAccess';
import { ConversationCache } from './chat/ConversationCache';
import { ConversationList } from './chat/ConversationList';
import { HistoryService } from './chat/HistoryService';
import { MessageSender } from './chat/MessageSender';
import { OrderedCommits } from './chat/OrderedCommits';
import { Receipts } from './chat/Receipts';
import { Sequencer } from './chat/Sequencer';
import { SystemEvents } from './chat/SystemEvents';
import { UserDirectory } from './chat/UserDirectory';
import { DeviceService } from './chat/DeviceService';
import { GapResolver } from './chat/GapResolver';
import { BlockService } from './chat/BlockService';
import { GroupService } from './chat/GroupService';
import { SyncService } from './chat/SyncService';
import { SnowflakeGenerator } from './chat/snowflake';
import { BlockCopies } from './store/redis/BlockCopies';
import { ClientMessageClaims } from './store/redis/ClientMessageClaims';
import { Cluster } from './cluster/Cluster';
import { ConnectionSlots } from './cluster/ConnectionSlots';
import { ConversationQuota } from './store/redis/ConversationQuota';
import { ConversationSequence } from './store/redis/ConversationSequence';
import { DeviceSlots } from './store/redis/DeviceSlots';
import { GroupVersions } from './store/redis/GroupVersions';
import { Keys } from './store/redis/keys';
import { Discovery } from './cluster/Discovery';
import { NodeLease, type NodeInfo } from './cluster/NodeLease';
import { ClockSkew } from './cluster/ClockSkew';
import { createRedis } from './store/redis/redis';
import { RevocationRepository } from './store/cassandra/RevocationRepository';
import { RouteRegistry } from './cluster/RouteRegistry';
import { StreamRouter } from './cluster/StreamRouter';
import type { Config } from './config/config';
import { createHttpApp } from './http/app';
import { RateLimits } from './http/rateLimits';
import type { Logger } from './log';
import { CassandraTracker } from './metrics/CassandraTracker';
import { Metrics } from './metrics/Metrics';
import { PresenceService } from './presence/PresenceService';
import { LogProvider, WebhookProvider } from './push/providers';
import { PushQueue } from './push/PushQueue';
import { PushWorker } from './push/PushWorker';
import { createCassandraClient } from './store/cassandra/cassandra';
import { ClientMessageRepository } from './store/cassandra/ClientMessageRepository';
import { ConversationRepository } from './store/cassandra/ConversationRepository';
import { CursorRepository } from './store/cassandra/CursorRepository';
import { DeviceRepository } from './store/cassandra/DeviceRepository';
import { MessageRepository } from './store/cassandra/MessageRepository';
import { PresenceRepository } from './store/cassandra/PresenceRepository';
import { runMigrations } from './store/migrate';
import { BlockRepository } from './store/cassandra/BlockRepository';
import { UserRepository } from './store/cassandra/UserRepository';
import { WriteBatcher } from './store/cassandra/WriteBatcher';
import { ConnectionManager } from './ws/ConnectionManager';
import { WsGateway } from './ws/WsGateway';
import { withRetries } from './retry';

/** Pending connections the kernel queues for accept (capped by net.core.somaxconn). */
const LISTEN_BACKLOG = 4096;
/**
 * How long a user's route hash outlives its last refresh: a safety net for a hash no live node
 * refreshes any more (entries of dead instances already stop counting with their lease).
 */
const ROUTE_TTL_SECONDS = 3600;
/** How often a node reports its load for discovery (Discovery.start). */
const LOAD_REPORT_MS = 2000;
/** The web client `npm run build` puts beside the compiled server (dist/web). */
const WEB_ROOT = path.join(__dirname, 'web');

export interface ChatNode {
  readonly nodeId: number;
  readonly port: number;
  readonly wsUrl: string;
  /** Graceful shutdown; idempotent (a second call returns the first one's promise). */
  stop(): Promise<void>;
}

/**
 * Connects Redis and Cassandra, applies the schema, and builds a node on top of them (the composition root).
 * `onNodeId` learns the node's id as soon as its lease gives it one (the logger writes it on every line).
 */
export async function startNode(config: Config, port: number, log: Logger, onFatal: (reason: string) => void,
  onNodeId: (nodeId: number) => void = () => undefined): Promise<ChatNode> {
  await runMigrations(config, log.child({ component: 'migrate' }));
  // metrics: one registry per node; the Redis and Cassandra clients report into it.
  const metrics = new Metrics();
  const redis = createRedis(config, 'chat-commands');
  const blocking = createRedis(config, 'chat-stream');
  const pushBlocking = createRedis(config, 'chat-push');
  for (const [name, r] of [['chat-commands', redis], ['chat-stream', blocking], ['chat-push', pushBlocking]] as const) {
    // A listener also keeps ioredis from printing unhandled errors as non-JSON lines.
    r.on('error', (err: Error) => {
      metrics.redisErrors.inc();
      log.warn({ err, client: name }, 'redis client error');
    });
  }
  await Promise.all([redis.connect(), blocking.connect(), pushBlocking.connect()]);
  const db = createCassandraClient(config, true, new CassandraTracker(metrics.cassandraSeconds));
  await db.connect();

  return buildNode({ config, port, log, onFatal, onNodeId, metrics, redis, blocking, pushBlocking, db });
}

async function buildNode(d: {
  config: Config; port: number; log: Logger; onFatal: (reason: string) => void; onNodeId: (nodeId: number) => void;
  metrics: Metrics; redis: RedisClient; blocking: RedisClient; pushBlocking: RedisClient; db: Client;
}): Promise<ChatNode> {
  const { config, log, metrics, redis, blocking, pushBlocking, db } = d;
  const keys = new Keys(config.redis.keyPrefix);
  let stopping: Promise<void> | null = null;
  const connections = new ConnectionManager();
  let wsUrl = '';
  // Late-bound: the lease exists before the cluster and the idempotency store it notifies.
  let onRedisReset = (): void => undefined;
  let onPeersGone = (_gone: NodeInfo[]): void => undefined;
  const lease = new NodeLease(redis, keys, config.node.leaseTtlSeconds, log.child({ component: 'lease' }),
    () => ({ wsUrl, connections: connections.count }),
    () => d.onFatal('node lease lost: another process now holds this node id'),
    () => onRedisReset(),
    (gone) => onPeersGone(gone));
  const clock = new ClockSkew(redis, config.node.maxClockSkewMs, log.child({ component: 'clock' }), (ms) => metrics.clockOffset.set(ms / 1000));
  lease.useClock(clock);
  const nodeId = await lease.acquire(config.node.id);
  await clock.measure();
  d.onNodeId(nodeId);
  metrics.observe({ connections: () => connections.count, streamPending: () => redis.xlen(keys.stream(nodeId)) });

  const users = new UserRepository(db);
  // Two write queues: messages never wait behind cursor saves and receipts (a slow Cassandra lets
  // those pile up), and each is bounded so a backlog is refused at once instead of growing.
  const messageWrites = new WriteBatcher(db, 2, 64, 40 * 1024, config.cassandra.maxQueuedWrites);
  const writes = new WriteBatcher(db, 2, 64, 40 * 1024, config.cassandra.maxQueuedWrites);
  const conversationRepo = new ConversationRepository(db, writes);
  const messages = new MessageRepository(db, messageWrites);
  const cursors = new CursorRepository(db, writes);
  const routes = new RouteRegistry(redis, keys, lease, ROUTE_TTL_SECONDS);
  // Tail marks as often as the lease refreshes: a lost stream tail shows well within sync.safetyLagMs.
  const router = new StreamRouter(redis, blocking, keys, config.stream.maxLen, log.child({ component: 'stream' }), lease.instance,
    Math.max(500, Math.floor((config.node.leaseTtlSeconds * 1000) / 3)));
  const cluster = new Cluster(lease, routes, router, connections, log.child({ component: 'cluster' }));
  const clientIds = new ClientMessageIds(new ClientMessageClaims(redis, keys), new ClientMessageRepository(db, messageWrites, IDEMPOTENCY_TTL_SECONDS));
  const groupVersions = new GroupVersions(redis, keys);
  const conversations = new ConversationCache(conversationRepo, groupVersions);
  const access = new ConversationAccess(conversations, conversationRepo);
  const conversationList = new ConversationList(conversationRepo, messages, conversations);
  const receipts = new Receipts(access, conversationRepo, messages, cluster);
  const pushQueue = new PushQueue(redis, keys, config.push);
  const sequence = new ConversationSequence(redis, keys, config.sync.sequenceTtlSeconds);
  const blockRepo = new BlockRepository(db);
  const blocks = new BlockService(new BlockCopies(redis, keys, blockRepo), blockRepo, users);
  const quota = new ConversationQuota(redis, keys, conversationRepo, {
    maxConversationsPerUser: config.chat.maxConversationsPerUser,
    groupsPerUserPerHour: config.rateLimit.enabled ? config.chat.groupsPerUserPerHour : null,
  });
  const ids = new SnowflakeGenerator(nodeId);
  lease.useIds(ids);
  const commits = new OrderedCommits();
  // A sequence that went back (Redis lost its recent writes): new clientMsgId claims are checked in
  // Cassandra from now on. Not the whole reset recovery: run as well, ahead of the lease path's own,
  // it left devices without messages they were owed (ordering.test, Redis restarting mid-burst, 1 run
  // in 4-8). Lost stream entries show by the tail marks; a lost lease key starts the full recovery.
  let regressionSeenAt = 0;
  const sequencer = new Sequencer(sequence, ids, commits, messages, clock, (conversationId) => {
    clientIds.redisWasReset();
    if (Date.now() - regressionSeenAt < 10_000) return;
    regressionSeenAt = Date.now();
    log.warn({ conversationId }, 'a conversation sequence went back: Redis lost recent writes; checking new clientMsgIds in Cassandra');
  }, (config.sync.sequenceTtlSeconds * 1000) / 2);
  const chatLog = log.child({ component: 'chat' });
  const pipeline = new CommitPipeline(commits, messages, clientIds, sequence, conversations, cluster, pushQueue, cluster, chatLog);
  const userDirectory = new UserDirectory(users);
  const chat = new MessageSender({
    conversationRepo, conversations, access, messages, clientIds, ids, sequence, sequencer, pipeline, owners: cluster, users: userDirectory,
    log: chatLog, blocks, quota, settleAfterMs: settleAfterMs(config.node.maxClockSkewMs),
  });
  const presence = new PresenceService({
    redis, keys, lastActive: new PresenceRepository(db, writes), contacts: new Contacts(conversationRepo, conversations), access, events: cluster,
    typingIntervalMs: config.presence.typingIntervalMs, log: log.child({ component: 'presence' }), blocks, lease,
  });
  const discovery = new Discovery(redis, keys, lease);
  const deviceRepo = new DeviceRepository(db);
  const pushWorker = new PushWorker(redis, pushBlocking, keys, {
    devices: deviceRepo, cursors, users, conversations,
    isConnected: (userId, deviceId) => cluster.isConnected(userId, deviceId),
  }, config.push.provider === 'webhook' ? new WebhookProvider(config.push.webhookUrl as string) : new LogProvider(log.child({ component: 'push' })),
  config.push, log.child({ component: 'push' }), metrics);
  const groups = new GroupService(conversationRepo, access, new SystemEvents(sequencer, pipeline), ids, userDirectory, groupVersions,
    config.chat.maxGroupMembers, blocks, quota);
  const sync = new SyncService(new HistoryService(access, messages), conversationList, messages, config.sync);
  const auth = new AuthService(users, new TokenStore(redis, keys, config.auth.tokenTtlSeconds, new RevocationRepository(db, config.auth.tokenTtlSeconds)),
    new PasswordHasher(config.auth.bcryptRounds, config.rateLimit.maxConcurrentHashes), cluster);
  const devices = new DeviceService(deviceRepo, cursors, cluster,
    new DeviceSlots(redis, keys, async (u) => (await deviceRepo.list(u)).map((x) => x.deviceId), config.chat.maxDevicesPerUser));
  const gateway = new WsGateway(auth, devices, cluster, routes, connections, {
    chat, receipts, sync, cursors, presence,
    safetyLagMs: config.sync.safetyLagMs,
    gaps: new GapResolver(messages, conversationRepo, sequence, cluster, settleAfterMs(config.node.maxClockSkewMs)),
    log: log.child({ component: 'ws' }),
    metrics,
    limits: {
      maxContentChars: config.chat.maxContentChars,
      maxBufferedBytes: config.ws.maxBufferedBytes,
      maxFramesPerSecond: config.ws.maxFramesPerSecond,
      maxControlFrameBytes: config.ws.maxControlFrameBytes,
      maxInboundBytesPerSecond: config.ws.maxInboundBytesPerSecond,
    },
  }, { pingIntervalMs: config.ws.pingIntervalMs, routeRefreshMs: (ROUTE_TTL_SECONDS * 1000) / 4, presenceTimeoutMs: config.presence.timeoutMs }, {
    slots: new ConnectionSlots(redis, keys, lease, config.ws.maxConnectionsPerUser, ROUTE_TTL_SECONDS),
    maxConnections: config.ws.maxConnections,
    allowedOrigins: config.ws.allowedOrigins,
  });
  onPeersGone = (gone) => {
    presence.sweep(gone).catch((err) => log.error({ err }, 'presence sweep failed'));
    cluster.recoverFromPeerLoss(gone.map((n) => n.nodeId)).catch((err) => log.error({ err }, 'recovery after node loss failed'));
  };
  // After any Redis outage, deliveries may have failed: every local device reads again from its cursor.
  let redisWasDown = false;
  redis.on('close', () => { redisWasDown = true; });
  redis.on('ready', () => {
    if (!redisWasDown) return;
    redisWasDown = false;
    if (!stopping) cluster.resyncAll().catch((err) => log.error({ err }, 'resync after a Redis outage failed'));
  });
  onRedisReset = () => {
    clientIds.redisWasReset();
    // Redis may still be settling after its restart (as in Cluster.recoverFromRedisReset).
    withRetries(() => gateway.restoreSlots(), 5, 100).catch((err) => log.error({ err }, 'restoring connection slots after Redis reset failed'));
    cluster.recoverFromRedisReset()
      .then((users) => Promise.all(users.map((u) => presence.refresh(u))))
      .catch((err) => log.error({ err }, 'recovery after Redis reset failed'));
  };

  const app = createHttpApp({
    auth, blocks, devices, conversations: conversationList, groups, sync, presence, discovery, maxGroupMembers: config.chat.maxGroupMembers, log: log.child({ component: 'http' }),
    metrics: { metrics, token: config.metrics.token || null },
    limits: new RateLimits(redis, config.redis.keyPrefix, config.rateLimit),
    trustProxy: config.server.trustProxy,
    corsOrigins: config.server.corsOrigins,
    maxContentChars: config.chat.maxContentChars,
    webRoot: existsSync(WEB_ROOT) ? WEB_ROOT : null,
    health: {
      nodeId: () => nodeId,
      connections: () => connections.count,
      unready: async () => [...await unready(redis, db), ...(clock.inSync ? [] : ['clock'])],
    },
  });
  const server = http.createServer(app);
  server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));

  await cluster.start();
  await pushWorker.start(nodeId);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A reconnect storm opens thousands of connections at once: Node's default backlog (511)
    // overflows, and every dropped SYN costs its client a one-second retransmit.
    server.listen({ port: d.port, host: config.server.host, backlog: LISTEN_BACKLOG }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  wsUrl = config.server.publicWsUrl ?? `ws://${config.server.host}:${port}/ws`;
  await lease.publish();
  gateway.start();
  discovery.start(() => connections.count, LOAD_REPORT_MS);
  log.info({ nodeId, port, url: `http://${config.server.host}:${port}`, wsUrl }, 'node started');

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const timeout = config.shutdown.timeoutMs;
      log.info({ connections: connections.count }, 'shutting down');
      try {
        // Stop taking work, finish (store, route, ack) what was accepted, then close the sockets.
        gateway.stopAccepting();
        server.close();
        server.closeIdleConnections();
        await withTimeout(pipeline.drain(), timeout, () => log.warn('in-flight sends did not finish in time'));
        await gateway.closeAll(timeout);
        // Sockets closed above announced their users' presence; what is left of this instance goes.
        await Promise.allSettled([discovery.stop(), routes.dropNodeUsers()]);
        await router.stop();
        await withTimeout(pushWorker.stop(), timeout, () => log.warn('push jobs still in progress at shutdown'));
      } finally {
        // Whatever failed above, the lease goes (peers settle this instance's ids at once instead of
        // after its TTL) and the clients close (the process can exit).
        await lease.release().catch((err) => log.warn({ err }, 'lease release failed'));
        server.closeAllConnections();
        await Promise.allSettled([redis.quit(), blocking.quit(), pushBlocking.quit(), db.shutdown()]);
        log.info('stopped');
      }
    })();
    return stopping;
  };
  return { nodeId, port, wsUrl, stop };
}

async function unready(redis: RedisClient, db: Client): Promise<string[]> {
  const [r, c] = await Promise.allSettled([
    withTimeout(redis.ping(), 1000, () => { throw new Error('timeout'); }),
    withTimeout(db.execute('SELECT release_version FROM system.local'), 1000, () => { throw new Error('timeout'); }),
  ]);
  const down: string[] = [];
  if (r.status === 'rejected') down.push('redis');
  if (c.status === 'rejected') down.push('cassandra');
  return down;
}

async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T | void> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => {
      try { onTimeout(); resolve(); } catch (err) { reject(err); }
    }, ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
