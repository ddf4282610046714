import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuthService } from '../auth/AuthService';
import type { ChatService } from '../chat/ChatService';
import type { DeviceService } from '../chat/DeviceService';
import { ID } from '../chat/validation';
import type { Cluster } from '../cluster/Cluster';
import { ChatError, toChatError } from '../errors';
import { errorStatus } from '../http/errors';
import type { Logger } from '../log';
import { ClientConnection, type ConnectionLimits } from './ClientConnection';
import { CloseCodes } from './closeCodes';
import type { ConnectionManager } from './ConnectionManager';

/** Bytes a frame may take beyond its content (JSON envelope, ids). */
const ENVELOPE_BYTES = 4096;

/**
 * The WebSocket edge: authenticates the upgrade (token and device) before any socket exists,
 * refusing with an HTTP status and JSON body, then hands the socket to a ClientConnection.
 */
export class WsGateway {
  private readonly wss: WebSocketServer;
  private accepting = true;
  private pingTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly auth: AuthService,
    private readonly devices: DeviceService,
    private readonly chat: ChatService,
    private readonly cluster: Cluster,
    private readonly connections: ConnectionManager,
    private readonly limits: ConnectionLimits & { pingIntervalMs: number },
    private readonly log: Logger,
  ) {
    // Content is counted in UTF-16 units; JSON may escape one as up to 6 bytes (\uXXXX).
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxContentChars * 6 + ENVELOPE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
  }

  start(): void {
    this.pingTimer = setInterval(() => {
      for (const c of this.connections.all()) c.heartbeat();
    }, this.limits.pingIntervalMs);
    this.pingTimer.unref();
  }

  /** New upgrades get 503 from now on (graceful shutdown). */
  stopAccepting(): void {
    this.accepting = false;
    if (this.pingTimer) clearInterval(this.pingTimer);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.log.debug('upgrade socket error', { err: String(err) }));
    this.authorize(req).then(
      ({ userId, tokenHash, deviceId }) => {
        if (socket.destroyed) return;
        this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, userId, tokenHash, deviceId));
      },
      (err) => abortHandshake(socket, toChatError(err)),
    );
  }

  private async authorize(req: IncomingMessage): Promise<{ userId: string; tokenHash: string; deviceId: string }> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') throw new ChatError('not_found', 'no such endpoint; WebSocket clients connect to /ws');
    if (!this.accepting) throw new ChatError('unavailable', 'this node is shutting down; connect to another node');
    const principal = await this.auth.authenticate(url.searchParams.get('token') ?? bearer(req.headers.authorization));
    const deviceId = url.searchParams.get('deviceId');
    if (!deviceId || deviceId.length > ID.max || !ID.pattern.test(deviceId)) {
      throw new ChatError('invalid_request', 'deviceId query parameter is required (register one with POST /api/devices)');
    }
    if (!(await this.devices.owns(principal.userId, deviceId))) {
      throw new ChatError('forbidden', 'this device is not registered to this user');
    }
    return { ...principal, deviceId };
  }

  private accept(ws: WebSocket, userId: string, tokenHash: string, deviceId: string): void {
    const conn = new ClientConnection(ws, userId, deviceId, tokenHash, this.chat, this.limits, this.log);
    if (!this.accepting) {
      conn.close(CloseCodes.goingAway);
      return;
    }
    this.connections.add(conn);
    conn.onClose((c) => {
      if (this.connections.remove(c)) {
        this.cluster.unregister(c.userId, c.deviceId).catch((err) => this.log.warn('route unregister failed', { err: String(err) }));
      }
    });
    this.cluster.register(userId, deviceId).catch((err) => {
      this.log.error('route register failed', { err: String(err) });
      conn.close(CloseCodes.internalError);
    });
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
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  return ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' } as Record<number, string>)[status] ?? 'Error';
}
