import type { Delivery } from '../chat/ChatService';
import type { EventFanout } from '../chat/ConversationService';
import type { ConnectionKicker } from '../chat/DeviceService';
import type { MessageView } from '../chat/views';
import type { Logger } from '../log';
import type { ClusterMessage } from './messages';
import type { NodeLease } from './NodeLease';
import type { RouteRegistry } from './RouteRegistry';
import type { StreamRouter } from './StreamRouter';

/** The sockets of this node (src/ws/ConnectionManager.ts), as the cluster needs them. */
export interface LocalSockets {
  deliver(message: MessageView, userIds: readonly string[], excludeDeviceId: string): void;
  event(frame: object, userIds: readonly string[]): void;
  kick(k: Extract<ClusterMessage, { type: 'kick' }>): void;
  /** Every local (user, device) pair, to register again after Redis lost its data. */
  all(): Array<{ userId: string; deviceId: string; session: { resync(): Promise<void>; hold(): void } }>;
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
    await this.router.start(this.nodeId, (m) => this.onClusterMessage(m));
  }

  private onClusterMessage(m: ClusterMessage): void {
    if (m.type === 'deliver') this.local.deliver(m.message, m.userIds, m.excludeDeviceId);
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

  /** Routes the message; resolves with the users that had no connected device anywhere. */
  async deliver(message: MessageView, userIds: readonly string[], excludeDeviceId: string): Promise<string[]> {
    const byNode = await this.usersByNode(userIds);
    const reached = new Set([...byNode.values()].flat());
    const self = this.nodeId;
    const local = byNode.get(self);
    if (local) this.local.deliver(message, local, excludeDeviceId);
    byNode.delete(self);
    await this.router.publish([...byNode].map(([nodeId, users]) => ({
      nodeId, message: { type: 'deliver' as const, from: self, message, userIds: users, excludeDeviceId },
    })));
    return userIds.filter((u) => !reached.has(u));
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
