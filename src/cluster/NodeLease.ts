import crypto from 'node:crypto';
import type { ClientContext, Result } from 'ioredis';
import type { RedisClient } from '../store/redis/redis';
import { idNode, idTimestamp, MAX_NODE_ID, type SnowflakeGenerator } from '../chat/snowflake';
import type { Logger } from '../log';
import type { Keys } from '../store/redis/keys';
import type { ClockSkew } from './ClockSkew';
import { defineScripts } from '../store/redis/scripts';

defineScripts({
  leaseClaim: { keys: 2, lua: `
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('sadd', KEYS[2], ARGV[3])
  return 1
end
return 0` },
  /** Refreshes the lease only while it is still ours (compare-and-expire). */
  leaseRefresh: { keys: 1, lua: `
local cur = redis.call('get', KEYS[1])
if not cur then return 0 end
if cjson.decode(cur).instance ~= ARGV[2] then return -1 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1` },
  leaseRelease: { keys: 1, lua: `
local cur = redis.call('get', KEYS[1])
if cur and cjson.decode(cur).instance == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    leaseClaim(nodeKey: string, nodesKey: string, info: string, ttlSeconds: number, nodeId: number): Result<number, Context>;
    leaseRefresh(nodeKey: string, info: string, instance: string, ttlSeconds: number): Result<number, Context>;
    leaseRelease(nodeKey: string, instance: string): Result<number, Context>;
  }
}

export interface NodeInfo {
  nodeId: number;
  /** Random per process: a restarted node with the same id is a different instance. */
  instance: string;
  /**
   * When this instance last claimed the lease (ms, its own clock and id generator): ids made before
   * are of an earlier claim, which lapsed (absent from older nodes' leases: `startedAt` stands in).
   */
  claimedAt?: number;
  wsUrl: string;
  startedAt: string;
  connections: number;
}

/**
 * The node's lease in Redis: one key per node id holding its NodeInfo with a TTL that the node
 * refreshes. It gives a unique Snowflake node id, tells others which node instances are alive
 * (so a crashed node's routes stop counting when its lease expires), and serves discovery.
 */
export class NodeLease {
  readonly instance = crypto.randomBytes(8).toString('hex');
  private nodeIdValue = -1;
  private claimedAt = Date.now();
  private ids: SnowflakeGenerator | null = null;
  /**
   * When (this process's monotonic clock) the last claim or refresh that Redis confirmed was sent:
   * the key it set lives at least a TTL from then, unless Redis loses it (see `holds`). Null: not held.
   */
  private confirmedAt: number | null = null;
  /** Nodes whose lease this node found absent, and since when (monotonic): see `madeByLiveInstance`. */
  private readonly absentSince = new Map<number, number>();
  /** The fencing read not sent yet (callers join it), and the last one sent (the next waits for it). */
  private queuedRead: Promise<NodeInfo | null> | null = null;
  private lastRead: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private live = new Map<number, NodeInfo>();
  private liveReadAt = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
    private readonly log: Logger,
    private readonly describe: () => { wsUrl: string; connections: number },
    /** Called when another process holds our id (we stalled past the TTL): ids could collide, so the node must stop. */
    private readonly onLost: () => void,
    /** Called when our lease key was simply gone and we took it back: Redis lost its data (or expired us). */
    private readonly onReset: () => void,
    /** Called when node instances that were live are gone (crashed, or stopped). */
    private readonly onPeersGone: (gone: NodeInfo[]) => void = () => undefined,
  ) {}

  private known = new Map<number, NodeInfo>();

  get nodeId(): number {
    if (this.nodeIdValue < 0) throw new Error('node lease not acquired');
    return this.nodeIdValue;
  }

  private readonly startedAt = new Date().toISOString();

  private info(nodeId: number): NodeInfo {
    return { nodeId, instance: this.instance, startedAt: this.startedAt, claimedAt: this.claimedAt, ...this.describe() };
  }

  private clock: ClockSkew | null = null;

  /** Measured at each refresh (Redis TIME against this node's clock). */
  useClock(clock: ClockSkew): void {
    this.clock = clock;
  }

  /** The node's id generator (made once the node id is known): a re-claim starts an epoch in it. */
  useIds(ids: SnowflakeGenerator): void {
    this.ids = ids;
  }

  /** Claims `wanted`, or the first free id when null. Throws if a fixed id is held by a live node. */
  async acquire(wanted: number | null): Promise<number> {
    const candidates = wanted !== null ? [wanted] : Array.from({ length: MAX_NODE_ID + 1 }, (_, i) => i);
    for (const id of candidates) {
      const sentAt = performance.now();
      const ok = await this.redis.leaseClaim(this.keys.node(id), this.keys.nodes(),
        JSON.stringify(this.info(id)), this.ttlSeconds, id);
      if (ok === 1) {
        this.confirmedAt = sentAt;
        this.nodeIdValue = id;
        const period = Math.max(500, Math.floor((this.ttlSeconds * 1000) / 3));
        this.timer = setInterval(() => { if (!this.inFlight) void this.publish(); }, period);
        this.timer.unref();
        return id;
      }
    }
    throw new Error(wanted !== null ? `node id ${wanted} is held by another live node` : 'no free node id (1024 in use)');
  }

  /**
   * Publishes the node's info now (e.g. its URL, known once the server listens). Refreshes run one
   * at a time: two that both found the key gone (say, queued while Redis restarted) would both try
   * to claim it, and the loser would take our own fresh claim for another process's and stop the node.
   */
  publish(): Promise<void> {
    const run: Promise<void> = (this.inFlight ?? Promise.resolve())
      .then(() => this.refresh())
      .finally(() => { if (this.inFlight === run) this.inFlight = null; });
    this.inFlight = run;
    return run;
  }

  private inFlight: Promise<void> | null = null;

  private async refresh(): Promise<void> {
    try {
      const key = this.keys.node(this.nodeIdValue);
      let sentAt = performance.now();
      let r = await this.redis.leaseRefresh(key, JSON.stringify(this.info(this.nodeIdValue)), this.instance, this.ttlSeconds);
      if (r === 0) {
        // The key is gone (Redis restarted empty, or we were too slow and nobody took the id): take it
        // back as a new claim. Ids made under the lapsed one are dead to everyone from now on: peers
        // may have buried those they found unstored, so this node must not route or ack them (`holds`).
        this.claimedAt = this.ids?.startEpoch() ?? Date.now();
        sentAt = performance.now();
        const ok = await this.redis.leaseClaim(key, this.keys.nodes(),
          JSON.stringify(this.info(this.nodeIdValue)), this.ttlSeconds, this.nodeIdValue);
        if (ok === 1) {
          this.confirmedAt = sentAt;
          this.log.warn({ nodeId: this.nodeIdValue }, 'node lease was gone; re-acquired it');
          this.liveReadAt = 0;
          this.onReset();
          return;
        }
        // Somebody set the key between our two calls: only its holder decides whether we lost it.
        sentAt = performance.now();
        r = await this.redis.leaseRefresh(key, JSON.stringify(this.info(this.nodeIdValue)), this.instance, this.ttlSeconds);
        if (r === 0) return; // gone again: the next refresh claims it
      }
      if (r !== 1) {
        this.confirmedAt = null;
        this.log.error({ nodeId: this.nodeIdValue, result: r }, 'node lease lost to another process');
        this.stopRefresh();
        this.onLost();
        return;
      }
      this.confirmedAt = sentAt;
      await this.watchPeers();
      await this.clock?.measure();
    } catch (err) {
      // Redis unreachable: keep trying; the lease survives as long as one refresh lands within the TTL.
      this.log.warn({ err }, 'node lease refresh failed');
    }
  }

  /** Compares the live set with the one seen last time and reports instances that went away. */
  private async watchPeers(): Promise<void> {
    const live = await this.liveNodes(0);
    const gone = [...this.known.values()].filter((n) => live.get(n.nodeId)?.instance !== n.instance && n.instance !== this.instance);
    this.known = new Map(live);
    if (gone.length) this.onPeersGone(gone);
  }

  /** Live node instances, read from Redis at most every `maxAgeMs`. */
  async liveNodes(maxAgeMs = 1000): Promise<Map<number, NodeInfo>> {
    if (Date.now() - this.liveReadAt <= maxAgeMs) return this.live;
    const ids = (await this.redis.smembers(this.keys.nodes())).map(Number).filter((n) => Number.isInteger(n));
    const values = ids.length ? await this.redis.mget(ids.map((id) => this.keys.node(id))) : [];
    const live = new Map<number, NodeInfo>();
    const gone: number[] = [];
    ids.forEach((id, i) => {
      const v = values[i];
      if (v) live.set(id, JSON.parse(v) as NodeInfo);
      else gone.push(id);
    });
    if (gone.length) await this.redis.srem(this.keys.nodes(), ...gone);
    this.live = live;
    this.liveReadAt = Date.now();
    return live;
  }

  /**
   * True when `nodeId/instance` names a live node instance. A "yes" may come from a view up to 1 s
   * old; a "no" is always checked against a fresh read. Callers act on a "no" (they delete the
   * route), and a view even 200 ms old can miss a lease just taken back: after Redis lost its data a
   * node re-acquires its lease and then registers its devices again, and a stale "no" deleted those
   * new routes, leaving the devices without live messages.
   */
  async isLive(nodeId: number, instance: string): Promise<boolean> {
    if ((await this.liveNodes(1000)).get(nodeId)?.instance === instance) return true;
    return (await this.liveNodes(0)).get(nodeId)?.instance === instance;
  }

  /**
   * Whether the node instance that made this message id may still be running: its node id (in the
   * id) has a live lease, claimed by that instance no later than the id was made (both times from
   * that node's clock). A lease found absent still counts for a TTL after this node first found it
   * so: Redis may have lost the key while its holder runs, and the holder acks for up to a TTL after
   * its last confirmed refresh (`holds`). A lease held by another instance, or claimed again since
   * the id, does not: its holder knows (it made that claim) and acks nothing older.
   */
  async madeByLiveInstance(id: bigint): Promise<boolean> {
    const nodeId = idNode(id);
    const info = (await this.liveNodes(0)).get(nodeId);
    if (info !== undefined) {
      this.absentSince.delete(nodeId);
      return coversId(info, id);
    }
    const now = performance.now();
    const since = this.absentSince.get(nodeId) ?? now;
    this.absentSince.set(nodeId, since);
    return now - since < this.ttlSeconds * 1000;
  }

  /**
   * The fencing step before this node routes and acks a stored message: whether its lease still
   * covers the id. First locally, with no round trip: the id was made under the current claim, and a
   * TTL (less a margin for clock rates) has not passed since the last refresh Redis confirmed was
   * sent. Another node buries an unstored id of ours only once it saw our lease claimed again or held
   * by another instance (both come after our lease ended, a TTL after that refresh at the earliest),
   * or found it absent for a whole TTL (Redis lost it: absent from a moment after that refresh). So
   * a write that finished before a "yes" here was finished before any such bury, and the burier's
   * read after that moment sees it. When refreshes came late (a busy or paused process) the lease is
   * read from Redis instead, as peers read it (a GET sent after the call, shared by the callers
   * waiting meanwhile): still ours under the same claim means no peer saw it end. A "no" leaves the
   * id's fate to one atomic step (CommitPipeline).
   */
  async holds(id: bigint): Promise<boolean> {
    if (this.confirmedAt === null || this.claimedAt > idTimestamp(id)) return false;
    const margin = Math.min(500, this.ttlSeconds * 100);
    if (performance.now() < this.confirmedAt + this.ttlSeconds * 1000 - margin) return true;
    const info = await this.readOwn().catch(() => null);
    return info !== null && info.instance === this.instance && coversId(info, id);
  }

  private readOwn(): Promise<NodeInfo | null> {
    if (this.queuedRead) return this.queuedRead;
    const read: Promise<NodeInfo | null> = this.lastRead.then(async () => {
      if (this.queuedRead === read) this.queuedRead = null; // sent now: later callers need the next read
      const v = await this.redis.get(this.keys.node(this.nodeIdValue));
      return v ? JSON.parse(v) as NodeInfo : null;
    });
    this.queuedRead = read;
    this.lastRead = read.catch(() => undefined);
    return read;
  }

  stopRefresh(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async release(): Promise<void> {
    this.stopRefresh();
    if (this.nodeIdValue >= 0) await this.redis.leaseRelease(this.keys.node(this.nodeIdValue), this.instance);
  }
}

/** Whether the lease `info` covers the id: made after its holder's current claim began. */
function coversId(info: NodeInfo, id: bigint): boolean {
  return (info.claimedAt ?? Date.parse(info.startedAt)) <= idTimestamp(id);
}
