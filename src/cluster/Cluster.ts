import type { Delivery } from '../chat/ChatService';
import type { EventFanout } from '../chat/ConversationService';
import type { ConnectionKicker } from '../chat/DeviceService';
import type { MessageView } from '../chat/views';
import type { Logger } from '../log';
import type { ClusterMessage, Delivery as NodeDelivery } from './messages';
import type { NodeLease } from './NodeLease';
import type { RouteRegistry } from './RouteRegistry';
import type { StreamRouter } from './StreamRouter';

/** The sockets of this node (src/ws/ConnectionManager.ts), as the cluster needs them. */
export interface LocalSockets {
  deliver(message: MessageView, userIds: readonly string[], excludeDeviceId: string): void;
  event(frame: object, userIds: readonly string[]): void;
  kick(k: Extract<ClusterMessage, { type: 'kick' }>): void;
  /** Runs `run` with the sockets it sends to corked: several frames for one socket leave in one write. */
  corked(run: () => void): void;
  /** Every local (user, device) pair, to register again after Redis lost its data. */
  all(): Array<{ userId: string; deviceId: string; session: { resync(): Promise<void>; hold(): void } }>;
}

interface PendingDelivery {
  message: MessageView;
  userIds: readonly string[];
  excludeDeviceId: string;
  resolve: (offline: string[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Routing between nodes: finds which node each member device is on, delivers locally what is
 * local, and writes one stream entry per other node. Also carries receipts and kicks.
 */
export class Cluster implements Delivery, EventFanout, ConnectionKicker {
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
    await this.router.start(this.nodeId, (m) => this.onClusterMessage(m), (run) => this.local.corked(run));
  }

  private onClusterMessage(m: ClusterMessage): void {
    if (m.type === 'deliver') for (const d of m.items) this.local.deliver(d.message, d.userIds, d.excludeDeviceId);
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

  /**
   * Routes the message; resolves with the users that had no connected device anywhere. Messages
   * whose writes finished in the same turn (one write batch) are routed together: one route lookup
   * for all their users and one stream entry per destination node, instead of one of each per message.
   */
  deliver(message: MessageView, userIds: readonly string[], excludeDeviceId: string): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ message, userIds, excludeDeviceId, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => void this.routePending());
    });
  }

  private async routePending(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const nodesOfUser = new Map<string, Set<number>>();
      for (const r of await this.routes.lookup([...new Set(batch.flatMap((d) => d.userIds))])) {
        let nodes = nodesOfUser.get(r.userId);
        if (!nodes) nodesOfUser.set(r.userId, (nodes = new Set()));
        nodes.add(r.nodeId);
      }
      const self = this.nodeId;
      const remote = new Map<number, NodeDelivery[]>();
      this.local.corked(() => this.splitByNode(batch, nodesOfUser, remote));
      await this.router.publish([...remote].map(([nodeId, items]) => ({ nodeId, message: { type: 'deliver' as const, from: self, items } })));
      for (const d of batch) d.resolve(d.userIds.filter((u) => !nodesOfUser.has(u)));
    } catch (err) {
      for (const d of batch) d.reject(err);
    }
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
        if (node === self) this.local.deliver(d.message, users, d.excludeDeviceId);
        else {
          const items = remote.get(node);
          const item = { message: d.message, userIds: users, excludeDeviceId: d.excludeDeviceId };
          if (items) items.push(item);
          else remote.set(node, [item]);
        }
      }
    }
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
  async kick(k: { userId: string; deviceId?: string; tokenHash?: string; reason: 'device_removed' | 'logged_out' }): Promise<void> {
    const msg: ClusterMessage = { type: 'kick', from: this.nodeId, ...k };
    this.local.kick(msg);
    const others = [...(await this.lease.liveNodes(0)).keys()].filter((id) => id !== this.nodeId);
    await this.router.publish(others.map((nodeId) => ({ nodeId, message: msg })));
    this.log.debug('kick sent', { userId: k.userId, reason: k.reason, nodes: others.length + 1 });
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
    this.log.warn('Redis lost its data: registering local devices again and resyncing them', { connections: conns.length });
    for (const c of conns) c.session.hold();
    await this.routes.registerMany(conns);
    await this.resyncAll();
    return [...new Set(conns.map((c) => c.userId))];
  }

  /**
   * A node died: it may have stored messages it never routed. Every local device reads again from
   * its cursor (which the sync lag keeps behind such messages) and gets what it is missing.
   */
  async recoverFromPeerLoss(gone: readonly number[]): Promise<void> {
    this.log.warn('nodes gone: resyncing local devices', { nodes: gone.join(','), connections: this.local.all().length });
    await this.resyncAll();
  }

  /** Freezes every local cursor at once, then resyncs the devices a few at a time. */
  async resyncAll(): Promise<void> {
    const conns = this.local.all();
    for (const c of conns) c.session.hold();
    let next = 0;
    const worker = async () => {
      while (next < conns.length) {
        await conns[next++].session.resync().catch((err) => this.log.warn('resync failed', { err: String(err) }));
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, conns.length) }, worker));
  }
}
