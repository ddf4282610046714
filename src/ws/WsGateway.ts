import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuthService, Principal } from '../auth/AuthService';
import type { DeviceService } from '../chat/DeviceService';
import { parse } from '../chat/validation';
import type { Cluster } from '../cluster/Cluster';
import type { ConnectionSlots } from '../cluster/ConnectionSlots';
import type { RouteRegistry } from '../cluster/RouteRegistry';
import { ChatError, toChatError } from '../errors';
import { errorStatus } from '../http/errors';
import { upgradeQuery } from '../protocol/frames';
import type { StoredCursor } from '../chat/model';
import { ClientConnection, type ConnectionDeps } from './ClientConnection';
import { CloseCodes } from './closeCodes';
import type { ConnectionManager } from './ConnectionManager';

/** Bytes a frame may take beyond its content (JSON envelope, ids). */
const ENVELOPE_BYTES = 4096;
/** How often moved cursors are written to Cassandra. */
/** Sessions are checked this often for a due cursor save (each saves every CURSOR_SAVE_MS, at its own phase). */
const CURSOR_TICK_MS = 250;

interface Authorized extends Principal {
  deviceId: string;
  cursor: StoredCursor;
  /** The per-user connection slot held for this socket (ConnectionSlots). */
  slot: string;
}

/** Who may open a socket here, checked before the upgrade. */
export interface Admission {
  slots: ConnectionSlots;
  /** ws.maxConnections: sockets on this node, counting upgrades in progress. */
  maxConnections: number;
  /** ws.allowedOrigins; empty = any. */
  allowedOrigins: readonly string[];
}

/**
 * The WebSocket edge: authenticates the upgrade (token and device) and loads the device's sync
 * cursor before any socket exists, refusing with an HTTP status and JSON body; then registers the
 * device's route and starts its catch-up.
 */
export class WsGateway {
  private readonly wss: WebSocketServer;
  private accepting = true;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Route removals and presence updates of closed sockets still running (awaited at shutdown). */
  private readonly closing = new Set<Promise<void>>();
  /** Upgrades between the capacity check and the socket's accept (or refusal). */
  private upgrading = 0;
  /** The connection slot each open socket holds, to write back if Redis loses its data. */
  private readonly slotOf = new WeakMap<ClientConnection, string>();
  private readonly origins: ReadonlySet<string>;

  constructor(
    private readonly auth: AuthService,
    private readonly devices: DeviceService,
    private readonly cluster: Cluster,
    private readonly routes: RouteRegistry,
    private readonly connections: ConnectionManager,
    private readonly deps: ConnectionDeps,
    private readonly timing: { pingIntervalMs: number; routeRefreshMs: number; presenceTimeoutMs: number },
    private readonly admission: Admission,
  ) {
    this.origins = new Set(admission.allowedOrigins.map((o) => o.toLowerCase()));
    // Content is counted in UTF-16 units; JSON may escape one as up to 6 bytes (\uXXXX).
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.limits.maxContentChars * 6 + ENVELOPE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
  }

  start(): void {
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.timing.pingIntervalMs, () => {
      for (const c of this.connections.all()) c.ping();
    });
    every(Math.min(1000, this.timing.presenceTimeoutMs / 4), () => {
      for (const c of this.connections.all()) c.checkAlive(this.timing.presenceTimeoutMs);
    });
    every(CURSOR_TICK_MS, () => {
      const now = Date.now();
      for (const c of this.connections.all()) c.session.maybeFlush(now);
    });
    every(this.timing.routeRefreshMs, () => {
      const users = new Set(this.connections.all().map((c) => c.userId));
      this.routes.refresh(users).catch((err) => this.deps.log.warn({ err }, 'route refresh failed'));
      this.admission.slots.refresh(users).catch((err) => this.deps.log.warn({ err }, 'connection slot refresh failed'));
    });
  }

  /** New upgrades get 503 from now on, and open sockets stop reading frames (graceful shutdown). */
  stopAccepting(): void {
    this.accepting = false;
    for (const t of this.timers.splice(0)) clearInterval(t);
    for (const c of this.connections.all()) c.pauseInput();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.deps.log.debug({ err }, 'upgrade socket error'));
    // Counted synchronously with the check: a burst of upgrades cannot all pass it.
    if (this.connections.count + this.upgrading >= this.admission.maxConnections) {
      this.refuse(socket, new ChatError('unavailable', 'this node is full; connect to another node'));
      return;
    }
    this.upgrading++;
    this.authorize(req).then(
      (a) => {
        this.upgrading--;
        let accepted = false;
        // Whatever ends the socket before it is accepted (client gone, ws refusing bad headers) frees the slot.
        const release = () => {
          if (!accepted) this.releaseSlot(a.userId, a.deviceId, a.slot);
        };
        if (socket.destroyed) return release();
        socket.once('close', release);
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          accepted = true;
          socket.off('close', release);
          this.accept(ws, a);
        });
      },
      (err) => {
        this.upgrading--;
        this.refuse(socket, toChatError(err));
      },
    );
  }

  private refuse(socket: Duplex, err: ChatError): void {
    this.deps.metrics.errorSent(err.code); // metrics: chat_errors_total{code}
    abortHandshake(socket, err);
  }

  private releaseSlot(userId: string, deviceId: string, slot: string): void {
    this.admission.slots.release(userId, deviceId, slot)
      .catch((err) => this.deps.log.warn({ err }, 'connection slot release failed'));
  }

  private async authorize(req: IncomingMessage): Promise<Authorized> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') throw new ChatError('not_found', 'no such endpoint; WebSocket clients connect to /ws');
    if (!this.accepting) throw new ChatError('unavailable', 'this node is shutting down; connect to another node');
    // Browsers always send Origin; a client without one is not a browser page and may connect.
    const origin = req.headers.origin;
    if (this.origins.size > 0 && origin !== undefined && !this.origins.has(origin.toLowerCase())) {
      throw new ChatError('forbidden', 'this origin may not open a WebSocket here');
    }
    const principal = await this.auth.authenticate(url.searchParams.get('token') ?? bearer(req.headers.authorization));
    const q = url.searchParams;
    const { deviceId, after: afterParam } = parse(upgradeQuery, { deviceId: q.get('deviceId') ?? undefined, after: q.get('after') ?? undefined });
    const after = afterParam === undefined ? null : BigInt(afterParam);
    const stored = await this.devices.cursorIfOwned(principal.userId, deviceId);
    if (!stored) throw new ChatError('forbidden', 'this device is not registered to this user');
    const cursor = after !== null ? { safe: after, seen: [] } : stored;
    // Last, so that no check after it can fail and leave the slot taken.
    const slot = await this.admission.slots.reserve(principal.userId, deviceId);
    return { ...principal, deviceId, cursor, slot };
  }

  private accept(ws: WebSocket, a: Authorized): void {
    const conn = new ClientConnection(ws, a.userId, a.deviceId,
      { hash: a.tokenHash, generation: a.generation, expiresAt: a.expiresAt }, a.cursor, this.deps);
    if (!this.accepting) {
      conn.close(CloseCodes.goingAway);
      this.releaseSlot(a.userId, a.deviceId, a.slot);
      return;
    }
    this.connections.add(conn);
    this.slotOf.set(conn, a.slot);
    conn.onClose((c) => {
      // A replaced socket's slot was taken over by its successor (same field, another value).
      if (!this.connections.remove(c)) return;
      this.releaseSlot(c.userId, c.deviceId, a.slot);
      const done: Promise<void> = this.cluster.unregister(c.userId, c.deviceId)
        .then(() => this.deps.presence.refresh(c.userId))
        .catch((err) => this.deps.log.warn({ err }, 'route unregister or presence update failed'))
        .finally(() => this.closing.delete(done));
      this.closing.add(done);
    });
    // The route is registered before catch-up reads: anything stored after the read comes live.
    this.cluster.register(a.userId, a.deviceId)
      .then(() => this.stillAuthorized(conn))
      .then((ok) => {
        if (!ok) return;
        this.deps.presence.refresh(a.userId).catch((err) => this.deps.log.warn({ err }, 'presence update failed'));
        return conn.session.catchUp();
      })
      .catch((err) => {
        this.deps.log.error({ userId: a.userId, err }, 'connection set-up failed');
        conn.close(CloseCodes.internalError);
      });
  }

  /**
   * A token revoked or a device deleted while this socket was being set up: their kick may have
   * reached this node before the connection was listed, and missed it. The connection is listed
   * now, so a kick sent later closes it, and one sent earlier followed a revocation this check sees.
   */
  private async stillAuthorized(conn: ClientConnection): Promise<boolean> {
    const [token, device] = await Promise.allSettled([this.auth.reauthenticate(conn.tokenHash), this.devices.owns(conn.userId, conn.deviceId)]);
    if (token.status === 'rejected' && token.reason instanceof ChatError && token.reason.code === 'unauthorized') conn.close(CloseCodes.unauthorized);
    else if (device.status === 'fulfilled' && !device.value) conn.close(CloseCodes.deviceRemoved);
    else if (token.status === 'rejected' || device.status === 'rejected') throw token.status === 'rejected' ? token.reason : (device as PromiseRejectedResult).reason;
    else return true;
    return false;
  }

  /** Writes the per-user connection slots of this node's sockets back (after Redis lost its data). */
  async restoreSlots(): Promise<void> {
    const slots = this.connections.all().flatMap((c) => {
      const slot = this.slotOf.get(c);
      return slot === undefined ? [] : [{ userId: c.userId, deviceId: c.deviceId, slot }];
    });
    await this.admission.slots.restore(slots);
  }

  /** Closes every socket with 1001 and waits (bounded) for the close handshakes to finish. */
  async closeAll(timeoutMs: number): Promise<void> {
    const sockets = this.connections.all();
    this.connections.closeAll(CloseCodes.goingAway);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(sockets.map((c) => c.socketClosed)),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
    ]);
    clearTimeout(timer);
    await Promise.all([...sockets.map((c) => c.session.close()), ...this.closing]);
    this.wss.close();
  }
}

function bearer(header: string | undefined): string | null {
  const m = header?.match(/^Bearer\s+(\S+)$/i);
  return m ? m[1] : null;
}

/** Refuses an upgrade with an HTTP status and a JSON error body (no socket was created). */
function abortHandshake(socket: Duplex, err: ChatError): void {
  if (socket.destroyed) return;
  const status = errorStatus(err.code);
  const body = JSON.stringify({ error: { code: err.code, message: err.message } });
  // Destroy once written: a client that never closes its side must not hold the descriptor.
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  return ({
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
  } as Record<number, string>)[status] ?? 'Error';
}
