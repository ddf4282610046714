import fs from 'node:fs';
import path from 'node:path';
import { propertiesReader } from 'properties-reader';

export type Consistency = 'one' | 'localOne' | 'quorum' | 'localQuorum' | 'eachQuorum' | 'all';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A node's configuration: loaded once from app.properties plus CHAT_* variables, validated, frozen. */
export interface Config {
  server: {
    /** Interface to bind. @default 127.0.0.1 */
    host: string;
    /** WebSocket URL clients are told to use for this node; null = derived from host and port. */
    publicWsUrl: string | null;
    /** Take the client IP from X-Forwarded-For (behind a proxy you run). @default false */
    trustProxy: boolean;
    /** Origins allowed to call the REST API from a browser (CORS); empty = any. */
    corsOrigins: string[];
  };
  rateLimit: {
    /** false turns every REST limit off (load tests). @default true */
    enabled: boolean;
    /** Failed logins per (username, client IP) within loginWindowSeconds. @default 10 */
    loginFailuresPerWindow: number;
    /** @default 900 */
    loginWindowSeconds: number;
    /** @default 20 */
    signupsPerIpPerHour: number;
    /** REST requests per user per minute. @default 600 */
    requestsPerUserPerMinute: number;
    /** Concurrent bcrypt hashes or compares on this node (the rest wait their turn). @default 2 */
    maxConcurrentHashes: number;
  };
  redis: {
    url: string;
    /** Prefix of every key this cluster writes. @default chat: */
    keyPrefix: string;
  };
  cassandra: {
    /** host:port pairs. */
    contactPoints: string[];
    localDataCenter: string;
    keyspace: string;
    replicationFactor: number;
    consistency: Consistency;
  };
  node: {
    /** Snowflake node id (0..1023), or null to allocate one among live nodes. */
    id: number | null;
    leaseTtlSeconds: number;
  };
  auth: {
    bcryptRounds: number;
    tokenTtlSeconds: number;
  };
  chat: {
    /** @default 100000 */
    maxContentChars: number;
    /** @default 100 */
    maxGroupMembers: number;
    /** Active (not left) conversations a user may be in. @default 1000 */
    maxConversationsPerUser: number;
    /** Groups one user may create per hour. @default 30 */
    groupsPerUserPerHour: number;
    /** Devices one user may register. @default 100 */
    maxDevicesPerUser: number;
  };
  sync: {
    /** How far behind the present a device cursor stays: covers writes in flight and a dead node going unnoticed. @default 30000 */
    safetyLagMs: number;
    /** Bytes of message content one sync or history response (or catch-up page) carries at most; the page ends early. @default 4194304 */
    maxResponseBytes: number;
    /** Sync and history reads one user may have running at once on a node (excess: 429). @default 4 */
    maxConcurrentReadsPerUser: number;
  };
  ws: {
    pingIntervalMs: number;
    maxBufferedBytes: number;
    maxFramesPerSecond: number;
    /** Largest frame other than message.send, in bytes. @default 16384 */
    maxControlFrameBytes: number;
    /** Inbound bytes per second one connection may send (token bucket; burst = 2x). @default 2097152 */
    maxInboundBytesPerSecond: number;
    /** Open sockets per user across the cluster. @default 20 */
    maxConnectionsPerUser: number;
    /** Open sockets per node. @default 50000 */
    maxConnections: number;
    /** Origins allowed to open a WebSocket (the Origin header); empty = any. */
    allowedOrigins: string[];
  };
  stream: {
    maxLen: number;
  };
  presence: {
    /** Interval clients are told to send `heartbeat` frames at. @default 5000 */
    heartbeatIntervalMs: number;
    /** A device silent (no frame, no pong) this long is dropped and counts as gone. @default 30000 */
    timeoutMs: number;
    /** Typing frames per user and conversation pass at most once per this interval. @default 1000 */
    typingIntervalMs: number;
  };
  push: {
    provider: 'log' | 'webhook';
    webhookUrl: string | null;
    /** Tries per notification before it goes to the dead-letter stream. @default 4 */
    maxAttempts: number;
    /** First retry delay; doubles each time. @default 500 */
    retryBaseMs: number;
    /** At most one notification per device and conversation within this window. @default 60000 */
    throttleMs: number;
    /** Wait before notifying, so a device that comes back at once gets no notification. @default 0 */
    delayMs: number;
    /** A job pending this long on a node (that died) is taken over by another. @default 30000 */
    reclaimIdleMs: number;
    /** Push jobs one sender may queue per minute (beyond it, their messages notify nobody). @default 600 */
    maxJobsPerSenderPerMinute: number;
  };
  shutdown: {
    timeoutMs: number;
  };
  log: {
    level: LogLevel;
  };
  metrics: {
    /** Bearer token GET /metrics requires; null (empty) = open (the default host binds to loopback). */
    token: string | null;
  };
}

export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`config ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** `cassandra.contactPoints` → `CHAT_CASSANDRA_CONTACT_POINTS`. */
export function envName(key: string): string {
  return 'CHAT_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

type Raw = Record<string, string>;

/** Reads raw string values: the properties file first, then any CHAT_* environment overrides. */
export function readRaw(file: string | null, env: NodeJS.ProcessEnv, keys: readonly string[]): Raw {
  const raw: Raw = {};
  if (file) {
    const props = propertiesReader({ sourceFile: file }).getAllProperties();
    for (const [k, v] of Object.entries(props)) raw[k] = String(v).trim();
  }
  for (const key of keys) {
    const v = env[envName(key)];
    if (v !== undefined) raw[key] = v.trim();
  }
  return raw;
}

class Reader {
  readonly used = new Set<string>();
  constructor(private readonly raw: Raw) {}

  private get(key: string, fallback: string | undefined): string {
    this.used.add(key);
    const v = this.raw[key];
    if (v !== undefined && v !== '') return v;
    if (fallback === undefined) throw new ConfigError(key, `is required (set it in app.properties or ${envName(key)})`);
    return fallback;
  }

  optional(key: string): string | null {
    this.used.add(key);
    const v = this.raw[key];
    return v === undefined || v === '' ? null : v;
  }

  string(key: string, fallback?: string, pattern?: RegExp): string {
    const v = this.get(key, fallback);
    if (pattern && !pattern.test(v)) throw new ConfigError(key, `"${v}" does not match ${pattern}`);
    return v;
  }

  int(key: string, fallback: number | undefined, min: number, max: number): number {
    const v = this.get(key, fallback === undefined ? undefined : String(fallback));
    if (!/^-?\d+$/.test(v)) throw new ConfigError(key, `"${v}" is not an integer`);
    const n = Number(v);
    if (n < min || n > max) throw new ConfigError(key, `${n} is outside ${min}..${max}`);
    return n;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.get(key, String(fallback));
    if (v !== 'true' && v !== 'false') throw new ConfigError(key, `"${v}" is not true or false`);
    return v === 'true';
  }

  /** Comma-separated list; empty = []. */
  list(key: string, pattern: RegExp): string[] {
    const v = this.optional(key);
    const items = v === null ? [] : v.split(',').map((x) => x.trim()).filter(Boolean);
    for (const x of items) if (!pattern.test(x)) throw new ConfigError(key, `"${x}" does not match ${pattern}`);
    return items;
  }

  oneOf<T extends string>(key: string, fallback: T, allowed: readonly T[]): T {
    const v = this.get(key, fallback);
    if (!(allowed as readonly string[]).includes(v)) throw new ConfigError(key, `"${v}" is not one of ${allowed.join(', ')}`);
    return v as T;
  }
}

export const CONFIG_KEYS = [
  'presence.heartbeatIntervalMs', 'presence.timeoutMs', 'presence.typingIntervalMs',
  'push.provider', 'push.webhookUrl', 'push.maxAttempts', 'push.retryBaseMs', 'push.throttleMs', 'push.delayMs', 'push.reclaimIdleMs',
  'server.host', 'server.publicWsUrl', 'server.trustProxy', 'server.corsOrigins', 'redis.url',
  'rateLimit.enabled', 'rateLimit.loginFailuresPerWindow', 'rateLimit.loginWindowSeconds', 'rateLimit.signupsPerIpPerHour',
  'rateLimit.requestsPerUserPerMinute', 'rateLimit.maxConcurrentHashes',
  'chat.maxConversationsPerUser', 'chat.groupsPerUserPerHour', 'chat.maxDevicesPerUser',
  'sync.maxResponseBytes', 'sync.maxConcurrentReadsPerUser',
  'ws.maxControlFrameBytes', 'ws.maxInboundBytesPerSecond', 'ws.maxConnectionsPerUser', 'ws.maxConnections', 'ws.allowedOrigins',
  'push.maxJobsPerSenderPerMinute', 'redis.keyPrefix',
  'cassandra.contactPoints', 'cassandra.localDataCenter', 'cassandra.keyspace', 'cassandra.replicationFactor',
  'cassandra.consistency', 'node.id', 'node.leaseTtlSeconds', 'auth.bcryptRounds', 'auth.tokenTtlSeconds',
  'chat.maxContentChars', 'chat.maxGroupMembers', 'sync.safetyLagMs', 'ws.pingIntervalMs', 'ws.maxBufferedBytes', 'ws.maxFramesPerSecond',
  'stream.maxLen', 'shutdown.timeoutMs', 'log.level',
  'metrics.token',
] as const;

/** An origin as browsers send it: scheme://host[:port], no path. */
const ORIGIN = /^https?:\/\/[A-Za-z0-9.\-[\]:]+$/;
const HOST_PORT = /^[A-Za-z0-9.\-:[\]]+:\d{1,5}$/;

/** Builds and validates a Config from raw values; throws ConfigError naming the first bad key. */
export function parseConfig(raw: Raw): Config {
  const r = new Reader(raw);
  const contactPoints = r.string('cassandra.contactPoints', '127.0.0.1:9042').split(',').map((s) => s.trim()).filter(Boolean);
  for (const cp of contactPoints) {
    if (!HOST_PORT.test(cp)) throw new ConfigError('cassandra.contactPoints', `"${cp}" is not host:port`);
  }
  if (contactPoints.length === 0) throw new ConfigError('cassandra.contactPoints', 'needs at least one host:port');
  const redisUrl = r.string('redis.url', 'redis://127.0.0.1:6379', /^rediss?:\/\/.+/);
  const publicWsUrl = r.optional('server.publicWsUrl');
  if (publicWsUrl !== null && !/^wss?:\/\/.+/.test(publicWsUrl)) {
    throw new ConfigError('server.publicWsUrl', `"${publicWsUrl}" is not a ws:// or wss:// URL`);
  }
  const nodeId = r.optional('node.id');
  const config: Config = {
    server: {
      host: r.string('server.host', '127.0.0.1'),
      publicWsUrl,
      trustProxy: r.bool('server.trustProxy', false),
      corsOrigins: r.list('server.corsOrigins', ORIGIN),
    },
    rateLimit: {
      enabled: r.bool('rateLimit.enabled', true),
      loginFailuresPerWindow: r.int('rateLimit.loginFailuresPerWindow', 10, 1, 1_000_000),
      loginWindowSeconds: r.int('rateLimit.loginWindowSeconds', 900, 1, 86400),
      signupsPerIpPerHour: r.int('rateLimit.signupsPerIpPerHour', 20, 1, 10_000_000),
      requestsPerUserPerMinute: r.int('rateLimit.requestsPerUserPerMinute', 600, 1, 10_000_000),
      maxConcurrentHashes: r.int('rateLimit.maxConcurrentHashes', 2, 1, 64),
    },
    redis: { url: redisUrl, keyPrefix: r.string('redis.keyPrefix', 'chat:', /^[A-Za-z0-9:_.\-{}]{1,64}$/) },
    cassandra: {
      contactPoints,
      localDataCenter: r.string('cassandra.localDataCenter', 'datacenter1'),
      keyspace: r.string('cassandra.keyspace', 'streamchat', /^[a-z][a-z0-9_]{0,47}$/),
      replicationFactor: r.int('cassandra.replicationFactor', 1, 1, 9),
      consistency: r.oneOf<Consistency>('cassandra.consistency', 'localQuorum',
        ['one', 'localOne', 'quorum', 'localQuorum', 'eachQuorum', 'all']),
    },
    node: {
      id: nodeId === null ? null : r.int('node.id', undefined, 0, 1023),
      leaseTtlSeconds: r.int('node.leaseTtlSeconds', 15, 3, 3600),
    },
    auth: {
      bcryptRounds: r.int('auth.bcryptRounds', 10, 4, 15),
      tokenTtlSeconds: r.int('auth.tokenTtlSeconds', 86400, 2, 31 * 86400),
    },
    chat: {
      maxContentChars: r.int('chat.maxContentChars', 100000, 1, 1_000_000),
      maxGroupMembers: r.int('chat.maxGroupMembers', 100, 2, 1000),
      maxConversationsPerUser: r.int('chat.maxConversationsPerUser', 1000, 1, 1_000_000),
      groupsPerUserPerHour: r.int('chat.groupsPerUserPerHour', 30, 1, 1_000_000),
      maxDevicesPerUser: r.int('chat.maxDevicesPerUser', 100, 1, 10000),
    },
    sync: {
      safetyLagMs: r.int('sync.safetyLagMs', 30000, 1000, 3_600_000),
      maxResponseBytes: r.int('sync.maxResponseBytes', 4 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
      maxConcurrentReadsPerUser: r.int('sync.maxConcurrentReadsPerUser', 4, 1, 1000),
    },
    ws: {
      pingIntervalMs: r.int('ws.pingIntervalMs', 10000, 100, 600000),
      maxBufferedBytes: r.int('ws.maxBufferedBytes', 8 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
      maxFramesPerSecond: r.int('ws.maxFramesPerSecond', 200, 1, 100000),
      maxControlFrameBytes: r.int('ws.maxControlFrameBytes', 16384, 1024, 1024 * 1024),
      maxInboundBytesPerSecond: r.int('ws.maxInboundBytesPerSecond', 2 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
      maxConnectionsPerUser: r.int('ws.maxConnectionsPerUser', 20, 1, 100000),
      maxConnections: r.int('ws.maxConnections', 50000, 1, 10_000_000),
      allowedOrigins: r.list('ws.allowedOrigins', ORIGIN),
    },
    stream: { maxLen: r.int('stream.maxLen', 10000, 100, 100_000_000) },
    presence: {
      heartbeatIntervalMs: r.int('presence.heartbeatIntervalMs', 5000, 100, 600000),
      timeoutMs: r.int('presence.timeoutMs', 30000, 200, 3_600_000),
      typingIntervalMs: r.int('presence.typingIntervalMs', 1000, 0, 60000),
    },
    push: {
      provider: r.oneOf<'log' | 'webhook'>('push.provider', 'log', ['log', 'webhook']),
      webhookUrl: r.optional('push.webhookUrl'),
      maxAttempts: r.int('push.maxAttempts', 4, 1, 20),
      retryBaseMs: r.int('push.retryBaseMs', 500, 1, 600000),
      throttleMs: r.int('push.throttleMs', 60000, 0, 86_400_000),
      delayMs: r.int('push.delayMs', 0, 0, 600000),
      reclaimIdleMs: r.int('push.reclaimIdleMs', 30000, 100, 3_600_000),
      maxJobsPerSenderPerMinute: r.int('push.maxJobsPerSenderPerMinute', 600, 1, 10_000_000),
    },
    shutdown: { timeoutMs: r.int('shutdown.timeoutMs', 10000, 0, 600000) },
    log: { level: r.oneOf<LogLevel>('log.level', 'info', ['debug', 'info', 'warn', 'error']) },
    metrics: { token: r.optional('metrics.token') },
  };
  // A node that died between storing and routing a message is noticed when its lease expires; device
  // cursors must still be behind that message then, so the lag has to cover the lease TTL twice over.
  if (config.sync.safetyLagMs < config.node.leaseTtlSeconds * 2000) {
    throw new ConfigError('sync.safetyLagMs', `must be at least 2 x node.leaseTtlSeconds (${config.node.leaseTtlSeconds * 2000} ms)`);
  }
  if (config.push.provider === 'webhook' && !/^https?:\/\/.+/.test(config.push.webhookUrl ?? '')) {
    throw new ConfigError('push.webhookUrl', 'must be an http(s) URL when push.provider=webhook');
  }
  if (config.presence.timeoutMs <= config.ws.pingIntervalMs) {
    throw new ConfigError('presence.timeoutMs', `must be longer than ws.pingIntervalMs (${config.ws.pingIntervalMs})`);
  }
  const unknown = Object.keys(raw).filter((k) => !r.used.has(k));
  if (unknown.length > 0) throw new ConfigError(unknown[0], 'is not a known key');
  return deepFreeze(config);
}

/** The properties file: CHAT_CONFIG_FILE, else app.properties at the project root. */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.CHAT_CONFIG_FILE) return env.CHAT_CONFIG_FILE;
  const file = path.resolve(__dirname, '..', '..', 'app.properties');
  return fs.existsSync(file) ? file : null;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, file: string | null = defaultConfigFile(env)): Config {
  if (file !== null && !fs.existsSync(file)) throw new ConfigError('CHAT_CONFIG_FILE', `${file} does not exist`);
  return parseConfig(readRaw(file, env, CONFIG_KEYS));
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}
