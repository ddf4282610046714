import type { LocalSockets } from '../cluster/Cluster';
import type { ClusterMessage, NodeDelivery } from '../cluster/messages';
import { isJoinOf } from '../chat/views';
import type { ClientConnection } from './ClientConnection';
import { CloseCodes, type CloseCode } from './closeCodes';

/** This node's sockets: (user, device) → connection. One connection per device; a newer one replaces the older. */
export class ConnectionManager implements LocalSockets {
  private readonly byUser = new Map<string, Map<string, ClientConnection>>();
  private total = 0;
  /** Sockets corked by the `corked` call in progress, if any. */
  private corkedNow: Set<ClientConnection> | null = null;

  get count(): number {
    return this.total;
  }

  /** Adds the connection; an older connection of the same device is closed (4009). */
  add(conn: ClientConnection): void {
    let devices = this.byUser.get(conn.userId);
    if (!devices) this.byUser.set(conn.userId, (devices = new Map()));
    const old = devices.get(conn.deviceId);
    devices.set(conn.deviceId, conn);
    if (old) old.close(CloseCodes.replaced);
    else this.total++;
  }

  /** Removes it if it is still the device's current connection; returns whether it was. */
  remove(conn: ClientConnection): boolean {
    const devices = this.byUser.get(conn.userId);
    if (devices?.get(conn.deviceId) !== conn) return false;
    devices.delete(conn.deviceId);
    if (devices.size === 0) this.byUser.delete(conn.userId);
    this.total--;
    return true;
  }

  /**
   * Offers a message to every local device of these users: as a frame, or, to the device that sent
   * it, as an id it has (its conversation's order goes on past it). A void is offered the same way,
   * with no frame. The frame is serialized and UTF-8 encoded once, and the same bytes go to every
   * socket (a group of 100 is one encoding, not 100).
   */
  deliver(d: NodeDelivery): void {
    const target = d.message ?? d.void;
    if (!target) return;
    let bytes: Buffer | null = null;
    const id = BigInt(target.messageId);
    const prev = d.prev === undefined ? null : BigInt(d.prev);
    for (const conn of this.devicesOf(d.userIds)) {
      let frame: Buffer | null = null;
      if (d.message && conn.deviceId !== d.excludeDeviceId) {
        frame = bytes ??= Buffer.from(JSON.stringify({ type: 'message.new', message: d.message }));
        this.cork(conn);
      }
      const resets = d.message !== undefined && isJoinOf(d.message, conn.userId);
      conn.session.offer({ conversationId: target.conversationId, id, prev, resets, payload: frame });
    }
  }

  /** A frame that is not a message (receipts): sent to every local device of these users, encoded once. */
  event(frame: object, userIds: readonly string[]): void {
    let bytes: Buffer | null = null;
    for (const conn of this.devicesOf(userIds)) {
      bytes ??= Buffer.from(JSON.stringify(frame));
      this.cork(conn);
      conn.sendRaw(bytes);
    }
  }

  /**
   * Runs `run` (the deliveries of one stream batch or one routing turn) with every socket it sends
   * to corked, then uncorks them: the frames one socket got in that batch leave in one write
   * (one syscall) instead of one each, which is most of the cost of a large group's fan-out.
   */
  corked(run: () => void): void {
    if (this.corkedNow) return run();
    const corked = (this.corkedNow = new Set());
    try {
      run();
    } finally {
      this.corkedNow = null;
      for (const conn of corked) conn.uncork();
    }
  }

  private cork(conn: ClientConnection): void {
    if (!this.corkedNow || this.corkedNow.has(conn)) return;
    this.corkedNow.add(conn);
    conn.cork();
  }

  kick(k: Extract<ClusterMessage, { type: 'kick' }>): void {
    const code = k.reason === 'logged_out' ? CloseCodes.unauthorized : CloseCodes.deviceRemoved;
    for (const conn of this.devicesOf([k.userId])) {
      if (k.deviceId !== undefined && conn.deviceId !== k.deviceId) continue;
      if (k.tokenHash !== undefined && conn.tokenHash !== k.tokenHash) continue;
      if (k.generationBelow !== undefined && conn.tokenGeneration >= k.generationBelow) continue;
      conn.close(code);
    }
  }

  private *devicesOf(userIds: readonly string[]): Generator<ClientConnection> {
    for (const userId of userIds) {
      const devices = this.byUser.get(userId);
      if (devices) yield* [...devices.values()];
    }
  }

  all(): ClientConnection[] {
    return [...this.byUser.values()].flatMap((d) => [...d.values()]);
  }

  dropAll(): void {
    this.closeAll(CloseCodes.tryAgainLater);
  }

  closeAll(code: CloseCode): void {
    for (const conn of this.all()) conn.close(code);
  }
}
