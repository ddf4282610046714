import type { ConnectionKicker, EventFanout, IdOwners, KickRequest, MessageRouter } from '../chat/ports';
import type { MessageView } from '../chat/views';
import type { Logger } from '../log';
import { withRetries } from '../retry';
import type { ClusterMessage, NodeDelivery } from './messages';
import type { NodeLease } from './NodeLease';
import type { RouteRegistry } from './RouteRegistry';
import type { StreamRouter } from './StreamRouter';

/** The sockets of this node (src/ws/ConnectionManager.ts), as the cluster needs them. */
export interface LocalSockets {
  deliver(d: NodeDelivery): void;
  event(frame: object, userIds: readonly string[]): void;
  kick(k: Extract<ClusterMessage, { type: 'kick' }>): void;
  /** Runs `run` with the sockets it sends to corked: several frames for one socket leave in one write. */
  corked(run: () => void): void;
  /** Every local (user, device) pair, to register again after Redis lost its data. */
  all(): Array<{ userId: string; deviceId: string; session: { resync(): Promise<void>; hold(): void } }>;
  /** Closes every local socket so that its device reconnects, registers and catches up again (1013). */
  dropAll(): void;
}

interface PendingDelivery {
  /** The delivery without its recipients (set per node). */
  item: Omit<NodeDelivery, 'userIds'>;
  userIds: readonly string[];
  resolve: (offline: string[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Routing between nodes: finds which node each member device is on, delivers locally what is
 * local, and writes one stream entry per other node. Also carries receipts and kicks.
 */
export class Cluster implements MessageRouter, EventFanout, ConnectionKicker, IdOwners {
  constructor(
    private readonly lease: NodeLease,
    private readonly routes: RouteRegistry,
    private readonly router: StreamRouter,
    private readonly local: LocalSockets,
    private readonly log: Logger,
  ) {}

  get nodeId(): number {
    return this.lease.nodeId;
  }

  async start(): Promise<void> {
    await this.router.start(this.nodeId, (m) => this.onClusterMessage(m), (run) => this.local.corked(run),
      (from, firstHeard) => {
        // Entries from that node were lost (Redis lost them, or trimmed them from a lagging stream),
        // or may have been (a node first heard from mid-sequence, as at this node's start): every
        // local device reads from its cursor before it gets anything newer.
        if (firstHeard) this.log.info({ from }, 'first entry from a node is not its first to this node: resyncing local devices');
        else this.log.warn({ from }, 'entries from a node were lost: resyncing local devices');
        void this.resyncAll();
      });
  }

  private onClusterMessage(m: ClusterMessage): void {
    if (m.type === 'deliver') for (const d of m.items) this.local.deliver(d);
    else if (m.type === 'event') this.local.event(m.frame, m.userIds);
    else this.local.kick(m);
  }

  /** The users of `userIds` with a connected device, grouped by node. */
  private async usersByNode(userIds: readonly string[]): Promise<Map<number, string[]>> {
    const byNode = new Map<number, Set<string>>();
    for (const r of await this.routes.lookup(userIds)) {
      let users = byNode.get(r.nodeId);
      if (!users) byNode.set(r.nodeId, (users = new Set()));
      users.add(r.userId);
    }
    return new Map([...byNode].map(([node, users]) => [node, [...users]]));
  }

  /** Deliveries asked for in the current event-loop turn, routed together at its end. */
  private pending: PendingDelivery[] = [];
  /** Settles once the previous routing turn was emitted: its local deliveries made and its stream entries issued. */
  private emitted: Promise<void> = Promise.resolve();

  /**
   * Routes the message; resolves with the users that had no connected device anywhere. Messages
   * asked for in the same turn (one write batch) are routed together: one route lookup for all their
   * users and one stream entry per destination node, instead of one of each per message.
   *
   * The node's outbox is ordered: turns are emitted in the order `deliver` was called. A turn's
   * route lookup starts at once (lookups of consecutive turns overlap), but its local deliveries and
   * its XADDs wait until the turn before was emitted. Entries are issued on one Redis connection, so
   * each destination stream gets them in that order too. CommitPipeline calls `deliver` in id order per
   * conversation, so every device gets a conversation's messages from this node in id order.
   */
  deliver(message: MessageView, prevId: bigint | null, userIds: readonly string[], excludeDeviceId: string): Promise<string[]> {
    const item: Omit<NodeDelivery, 'userIds'> = { message, excludeDeviceId };
    if (prevId !== null) item.prev = String(prevId);
    return this.enqueue(item, userIds);
  }

  /** Routes a void like a message (receivers then need not wait for it). */
  async deliverVoid(conversationId: string, messageId: bigint, prevId: bigint | null, userIds: readonly string[]): Promise<void> {
    const item: Omit<NodeDelivery, 'userIds'> = { void: { conversationId, messageId: String(messageId) }, excludeDeviceId: '' };
    if (prevId !== null) item.prev = String(prevId);
    await this.enqueue(item, userIds);
  }

  private enqueue(item: Omit<NodeDelivery, 'userIds'>, userIds: readonly string[]): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, userIds, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.routePending());
    });
  }

  private routePending(): void {
    const batch = this.pending;
    this.pending = [];
    const lookup = this.lookupNodes([...new Set(batch.flatMap((d) => d.userIds))]);
    lookup.catch(() => undefined); // handled in its turn below
    this.emitted = this.emitted.then(() => this.emit(batch, lookup)).catch((err) => {
      this.routeLost(err);
      for (const d of batch) d.reject(err);
    });
  }

  private async emit(batch: PendingDelivery[], lookup: Promise<Map<string, Set<number>>>): Promise<void> {
    let nodesOfUser: Map<string, Set<number>>;
    try {
      nodesOfUser = await lookup;
    } catch (err) {
      // Nothing of this turn went out. Later turns will: the devices that may have missed these
      // messages are made to read them from Cassandra before anything later reaches them.
      this.routeLost(err);
      for (const d of batch) d.reject(err);
      return;
    }
    const remote = new Map<number, NodeDelivery[]>();
    this.local.corked(() => this.splitByNode(batch, nodesOfUser, remote));
    const self = this.nodeId;
    // Issued now, in turn order; the next turn need not wait for the reply.
    this.router.publish([...remote].map(([nodeId, items]) => ({ nodeId, message: { type: 'deliver' as const, from: self, items } })))
      .then(() => {
        for (const d of batch) d.resolve(d.userIds.filter((u) => !nodesOfUser.has(u)));
      }, (err) => {
        // A receiver that missed the entry sees the gap in this node's entry numbers and resyncs before going on.
        for (const d of batch) d.reject(err);
      });
  }

  /** Which nodes each user has a connected device on. Retried briefly: rides out a Redis failover or reconnect. */
  private lookupNodes(userIds: string[]): Promise<Map<string, Set<number>>> {
    return withRetries(async () => {
      const nodesOfUser = new Map<string, Set<number>>();
      for (const r of await this.routes.lookup(userIds)) {
        let nodes = nodesOfUser.get(r.userId);
        if (!nodes) nodesOfUser.set(r.userId, (nodes = new Set()));
        nodes.add(r.nodeId);
      }
      return nodesOfUser;
    }, 4, 50, 5);
  }

  /**
   * A turn could not be routed at all. Its messages are stored; local devices and every other node's
   * devices may have missed them, and later turns will reach them. So: local devices stop taking
   * live messages now and read from their cursors first; every destination stream gets a gap in this
   * node's entry numbers, which makes its node do the same before it delivers what follows.
   */
  private routeLost(err: unknown): void {
    this.log.error({ err }, 'routing failed: local devices resync, other nodes are told by a gap');
    this.router.skipNumbers();
    void this.resyncAll();
  }

  /** Delivers the local part of each message now; collects the rest per destination node. */
  private splitByNode(batch: PendingDelivery[], nodesOfUser: Map<string, Set<number>>, remote: Map<number, NodeDelivery[]>): void {
    const self = this.nodeId;
    for (const d of batch) {
      const usersOn = new Map<number, string[]>();
      for (const u of d.userIds) {
        for (const node of nodesOfUser.get(u) ?? []) {
          const users = usersOn.get(node);
          if (users) users.push(u);
          else usersOn.set(node, [u]);
        }
      }
      for (const [node, users] of usersOn) {
        const item = { ...d.item, userIds: users };
        if (node === self) this.local.deliver(item);
        else {
          const items = remote.get(node);
          if (items) items.push(item);
          else remote.set(node, [item]);
        }
      }
    }
  }

  /** Whether the node instance that made this message id may still be running (it then settles the message itself). */
  idOwnerAlive(messageId: bigint): Promise<boolean> {
    return this.lease.madeByLiveInstance(messageId);
  }

  stillOwns(messageId: bigint): Promise<boolean> {
    return this.lease.holds(messageId);
  }

  /** Whether this device has a live connection anywhere. */
  async isConnected(userId: string, deviceId: string): Promise<boolean> {
    return (await this.routes.lookup([userId])).some((r) => r.deviceId === deviceId);
  }

  async fanout(frame: object, userIds: readonly string[]): Promise<void> {
    const byNode = await this.usersByNode(userIds);
    const self = this.nodeId;
    const local = byNode.get(self);
    if (local) this.local.event(frame, local);
    byNode.delete(self);
    await this.router.publish([...byNode].map(([nodeId, users]) => ({
      nodeId, message: { type: 'event' as const, from: self, frame, userIds: users },
    })));
  }

  /** Control messages are rare: they go to every live node rather than through a route lookup. */
  async kick(k: KickRequest): Promise<void> {
    const msg: ClusterMessage = { type: 'kick', from: this.nodeId, ...k };
    this.local.kick(msg);
    const others = [...(await this.lease.liveNodes(0)).keys()].filter((id) => id !== this.nodeId);
    await this.router.publish(others.map((nodeId) => ({ nodeId, message: msg })));
    this.log.debug({ userId: k.userId, reason: k.reason, nodes: others.length + 1 }, 'kick sent');
  }

  register(userId: string, deviceId: string): Promise<void> {
    return this.routes.register(userId, deviceId);
  }

  unregister(userId: string, deviceId: string): Promise<void> {
    return this.routes.unregister(userId, deviceId);
  }

  /**
   * Redis came back empty (restart without persistence): routes and stream entries are gone.
   * Register every local device again, then let each catch up from Cassandra on what it missed.
   */
  async recoverFromRedisReset(): Promise<string[]> {
    const conns = this.local.all();
    this.log.warn({ connections: conns.length }, 'Redis lost its data: registering local devices again and resyncing them');
    for (const c of conns) c.session.hold();
    try {
      // Retried: Redis may still be settling after its restart.
      await withRetries(() => this.routes.registerMany(conns), 5, 100);
    } catch (err) {
      // Without routes nothing live reaches them: they reconnect (and register, and catch up) instead.
      this.log.error({ err }, 'could not register local devices again: closing them so they reconnect');
      this.local.dropAll();
      return [];
    }
    await this.resyncAll();
    return [...new Set(conns.map((c) => c.userId))];
  }

  /**
   * A node died: it may have stored messages it never routed. Every local device reads again from
   * its cursor (which the sync lag keeps behind such messages) and gets what it is missing.
   */
  async recoverFromPeerLoss(gone: readonly number[]): Promise<void> {
    this.log.warn({ nodes: gone.join(','), connections: this.local.all().length }, 'nodes gone: resyncing local devices');
    await this.resyncAll();
  }

  /**
   * Every local device stops taking live messages at once (they are held from now on), then reads
   * from its cursor a few at a time, then gets what was held, in id order.
   */
  async resyncAll(): Promise<void> {
    const conns = this.local.all();
    for (const c of conns) c.session.hold();
    let next = 0;
    const worker = async () => {
      while (next < conns.length) {
        await conns[next++].session.resync().catch((err) => this.log.warn({ err }, 'resync failed'));
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, conns.length) }, worker));
  }
}
