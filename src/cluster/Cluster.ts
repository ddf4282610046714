import type { ConnectionKicker } from '../chat/DeviceService';
import type { Delivery } from '../chat/ChatService';
import type { MessageView } from '../chat/views';
import type { Logger } from '../log';
import type { ClusterMessage } from './messages';
import type { NodeLease } from './NodeLease';
import type { RouteRegistry } from './RouteRegistry';
import type { StreamRouter } from './StreamRouter';

/** The sockets of this node (src/ws/ConnectionManager.ts), as the cluster needs them. */
export interface LocalSockets {
  deliver(message: MessageView, userIds: readonly string[], excludeDeviceId: string): void;
  kick(k: Extract<ClusterMessage, { type: 'kick' }>): void;
}

/**
 * Routing between nodes: finds which node each member device is on, delivers locally what is
 * local, and writes one stream entry per other node. Also carries control messages (kicks).
 */
export class Cluster implements Delivery, ConnectionKicker {
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
    else this.local.kick(m);
  }

  async deliver(message: MessageView, members: readonly string[], excludeDeviceId: string): Promise<void> {
    const routes = await this.routes.lookup(members);
    const usersByNode = new Map<number, Set<string>>();
    for (const r of routes) {
      let users = usersByNode.get(r.nodeId);
      if (!users) usersByNode.set(r.nodeId, (users = new Set()));
      users.add(r.userId);
    }
    const self = this.nodeId;
    const local = usersByNode.get(self);
    if (local) this.local.deliver(message, [...local], excludeDeviceId);
    usersByNode.delete(self);
    await this.router.publish([...usersByNode].map(([nodeId, users]) => ({
      nodeId,
      message: { type: 'deliver' as const, from: self, message, userIds: [...users], excludeDeviceId },
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
}
