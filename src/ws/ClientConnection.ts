import crypto from 'node:crypto';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RawData, WebSocket } from 'ws';
import type { MessageSender } from '../chat/MessageSender';
import type { Receipts } from '../chat/Receipts';
import type { PresenceService } from '../presence/PresenceService';
import { parse } from '../chat/validation';
import { clientFrameSchemas, SEND_CHECK_ORDER, unknownTypeMessage, type ClientFrameSchemas, type ErrorFrame, type MessageAckFrame } from '../protocol/frames';
import type { StoredCursor } from '../chat/model';
import { ChatError, toChatError } from '../errors';
import type { Logger } from '../log';
import { CloseCodes, type CloseCode } from './closeCodes';
import { DeviceSession, type Frame, type SessionDeps } from '../chat/DeviceSession';
import type { Metrics } from '../metrics/Metrics';
import { checkParsed, checkRaw, TokenBucket } from './frameGuard';

export interface ConnectionLimits {
  maxContentChars: number;
  maxBufferedBytes: number;
  maxFramesPerSecond: number;
  /** Largest frame other than message.send (frameGuard). */
  maxControlFrameBytes: number;
  /** Inbound bytes per second (token bucket, burst 2x). */
  maxInboundBytesPerSecond: number;
}

/** What a connection needs from the rest of the node. */
export interface ConnectionDeps extends SessionDeps {
  metrics: Metrics;
  chat: MessageSender;
  receipts: Receipts;
  presence: PresenceService;
  limits: ConnectionLimits;
}

/**
 * One authenticated WebSocket of one device. Parses and validates client frames, answers each
 * bad one with an error frame (the socket stays usable), and has a single idempotent close path.
 */
export class ClientConnection {
  /** Last time the peer showed life: any frame or pong. */
  private lastSeen = Date.now();
  private closed = false;
  /** Frames and bytes the peer may send: `rate_limited` past either, closed (1008) far past. */
  private readonly frameBudget: TokenBucket;
  private readonly byteBudget: TokenBucket;
  private acceptQueue: Promise<void> = Promise.resolve();
  /** Settles once the reply (ack or error) to the latest `message.send` was written: replies go out in the order of the sends. */
  private replies: Promise<void> = Promise.resolve();
  private readonly onCloseCallbacks: Array<(c: ClientConnection) => void> = [];
  /** Settles when the underlying socket is fully closed (handshake done or terminated). */
  readonly socketClosed: Promise<void>;

  readonly session: DeviceSession;
  private readonly limits: ConnectionLimits;
  private readonly schemas: ClientFrameSchemas;
  /** Names this socket in the logs (a device reconnecting gets a new one). */
  readonly connId = crypto.randomBytes(6).toString('base64url');
  private readonly log: Logger;

  constructor(
    private readonly ws: WebSocket,
    readonly userId: string,
    readonly deviceId: string,
    private readonly token: { hash: string; generation: number; expiresAt: number },
    cursor: StoredCursor,
    private readonly deps: ConnectionDeps,
  ) {
    this.limits = deps.limits;
    this.schemas = frameSchemas(deps.limits);
    this.log = deps.log.child({ connId: this.connId, userId, deviceId });
    this.session = new DeviceSession(userId, deviceId, cursor, (frame) => this.sendRaw(frame),
      () => this.close(CloseCodes.slowConsumer), () => this.close(CloseCodes.tryAgainLater), () => this.drained(), { ...deps, log: this.log });
    this.frameBudget = new TokenBucket(this.limits.maxFramesPerSecond, this.limits.maxFramesPerSecond * 2);
    this.byteBudget = new TokenBucket(this.limits.maxInboundBytesPerSecond, this.limits.maxInboundBytesPerSecond * 2);
    this.socketClosed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('pong', () => { this.lastSeen = Date.now(); });
    ws.on('close', (code) => {
      deps.metrics.wsCloses.inc({ code: String(code) }); // metrics: chat_ws_close_total{code}
      this.dispose();
    });
    ws.on('error', (err) => {
      this.log.debug({ err }, 'socket error');
      this.dispose();
    });
  }

  get tokenHash(): string { return this.token.hash; }
  get tokenGeneration(): number { return this.token.generation; }

  onClose(cb: (c: ClientConnection) => void): void {
    this.onCloseCallbacks.push(cb);
  }

  /** Sends a text frame unless the socket is closed; a peer too slow to drain its buffer is closed (4008). */
  sendRaw(frame: Frame): void {
    if (this.closed) return;
    if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      this.close(CloseCodes.slowConsumer);
      return;
    }
    this.ws.send(frame, TEXT);
  }

  /** Holds this socket's writes until `uncork` (ConnectionManager.corked: one write for a batch of frames). */
  cork(): void {
    this.rawSocket()?.cork();
  }

  uncork(): void {
    this.rawSocket()?.uncork();
  }

  /** The TCP socket under the WebSocket (ws keeps it in `_socket`; absent once closed). */
  private rawSocket(): Socket | undefined {
    return (this.ws as unknown as { _socket?: Socket | null })._socket ?? undefined;
  }

  /** Resolves once less than a quarter of the send-buffer limit is queued (or the socket closed). */
  async drained(): Promise<void> {
    while (!this.closed && this.ws.bufferedAmount > this.limits.maxBufferedBytes / 4) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  send(frame: object): void {
    this.sendRaw(JSON.stringify(frame));
  }

  /** Stops reading frames (shutdown drains what was already accepted before sockets close). */
  pauseInput(): void {
    if (!this.closed) this.ws.pause();
  }

  /** Drops the socket if the peer has been silent (no frame, no pong) for `timeoutMs`; closes it (4001) once its token expired. */
  checkAlive(timeoutMs: number): void {
    if (this.closed) return;
    if (Date.now() >= this.token.expiresAt) {
      this.close(CloseCodes.unauthorized);
      return;
    }
    if (Date.now() - this.lastSeen <= timeoutMs) return;
    this.log.debug('device silent past the timeout');
    this.ws.terminate();
    this.dispose();
  }

  /** A server ping; its pong counts as activity (so clients need not send heartbeats). */
  ping(): void {
    if (!this.closed) this.ws.ping();
  }

  /** Closes with `code`; safe to call any number of times. */
  close(code: CloseCode): void {
    if (this.closed) return;
    // A deleted device's cursor row is gone: a last save would only write it back.
    if (code === CloseCodes.deviceRemoved) this.session.discard();
    this.ws.close(code.code, code.reason);
    // The close handshake gets a bounded time; the ws library terminates the socket after it.
    this.dispose();
  }

  private dispose(): void {
    if (this.closed) return;
    this.closed = true;
    void this.session.close();
    for (const cb of this.onCloseCallbacks.splice(0)) cb(this);
  }

  /**
   * Frame intake, in order of cost: the frame and byte budgets, then frameGuard's byte scan (depth,
   * and a shape check for frames above the control limit) before JSON.parse, then the size rule by
   * type. Every refusal is an error frame and the socket stays usable; a peer far over a budget
   * (it ignores the errors) is closed with 1008.
   */
  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    this.lastSeen = Date.now();
    const bytes = asBuffer(data);
    if (!this.frameBudget.take(1)) return this.refuse(this.frameBudget, `more than ${this.limits.maxFramesPerSecond} frames per second`);
    if (!this.byteBudget.take(bytes.length)) return this.refuse(this.byteBudget, `more than ${this.limits.maxInboundBytesPerSecond} bytes per second`);
    if (isBinary) {
      this.sendError(new ChatError('invalid_frame', 'frames must be JSON text'), undefined);
      return;
    }
    const rules = { maxControlFrameBytes: this.limits.maxControlFrameBytes };
    let frame: Record<string, unknown>;
    try {
      const refused = checkRaw(bytes, rules);
      if (refused !== null) throw new ChatError('invalid_frame', refused);
      const parsed: unknown = JSON.parse(bytes.toString());
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ChatError('invalid_frame', 'frame must be a JSON object');
      frame = parsed as Record<string, unknown>;
      const tooLarge = checkParsed(frame, bytes.length, rules);
      if (tooLarge !== null) throw new ChatError('invalid_frame', tooLarge);
    } catch (err) {
      this.sendError(err instanceof ChatError ? err : new ChatError('invalid_frame', 'frame is not valid JSON'), undefined);
      return;
    }
    const clientMsgId = typeof frame.clientMsgId === 'string' ? frame.clientMsgId.slice(0, 64) : undefined;
    if (frame.type === 'message.send') {
      const receivedAt = performance.now(); // metrics: chat_message_ack_seconds
      // Each send's ack (or error) waits for the replies to the sends before it, whatever finishes first.
      const reply = this.onSend(frame).catch((err) => this.errorFrame(toChatError(err), clientMsgId));
      this.replies = this.replies.then(() => reply).then((f) => {
        this.send(f);
        if (f.type === 'message.ack') this.deps.metrics.ackSeconds.observe((performance.now() - receivedAt) / 1000);
      })
        .catch((err) => this.log.warn({ err }, 'reply not sent'));
      return;
    }
    this.dispatch(frame).catch((err) => this.sendError(toChatError(err), clientMsgId));
  }

  /** Just over a budget gets told to slow down; far over it is abuse. */
  private refuse(budget: TokenBucket, message: string): void {
    if (budget.farOver()) this.close(CloseCodes.policyViolation);
    else this.sendError(new ChatError('rate_limited', message), undefined);
  }

  /** Every client frame type but message.send (onSend), checked against its schema (src/protocol/frames.ts). */
  private async dispatch(frame: Record<string, unknown>): Promise<void> {
    const f = this.schemas;
    switch (frame.type) {
      case 'message.received':
        return this.session.received(BigInt(parse(f['message.received'], frame, 'invalid_frame').messageId));
      case 'message.read': {
        const { conversationId, messageId } = parse(f['message.read'], frame, 'invalid_frame');
        return this.deps.receipts.markRead(this.userId, conversationId, BigInt(messageId));
      }
      case 'heartbeat':
        return; // its arrival is the point (lastSeen)
      case 'typing':
        return this.deps.presence.typing(this.userId, parse(f.typing, frame, 'invalid_frame').conversationId);
      default:
        throw new ChatError('unknown_type', unknownTypeMessage(frame.type));
    }
  }

  /** Accepts a `message.send` and resolves with its ack once the message is stored and routed. */
  private async onSend(frame: Record<string, unknown>): Promise<MessageAckFrame> {
    const { clientMsgId, to, conversationId, content, resent } = parse(this.schemas['message.send'], frame, 'invalid_frame', SEND_CHECK_ORDER);
    // Sends are accepted (conversation resolved, id given) one at a time, in the order they came,
    // so one device's messages keep their order; the writes themselves overlap.
    const accepted = this.acceptQueue.then(() =>
      this.deps.chat.accept({ userId: this.userId, deviceId: this.deviceId }, { clientMsgId, to, conversationId, content, resent }));
    this.acceptQueue = accepted.then(() => undefined, () => undefined);
    const { message: m, durable, duplicate } = await accepted;
    await durable;
    const ack: MessageAckFrame = { type: 'message.ack', clientMsgId, messageId: m.messageId, conversationId: m.conversationId, createdAt: m.createdAt };
    if (duplicate) ack.duplicate = true;
    else this.deps.metrics.messagesSent.inc(); // metrics: chat_messages_sent_total
    return ack;
  }

  private sendError(err: ChatError, clientMsgId: string | undefined): void {
    this.send(this.errorFrame(err, clientMsgId));
  }

  private errorFrame(err: ChatError, clientMsgId: string | undefined): ErrorFrame {
    if (err.code === 'unavailable') this.log.warn({ err: err.cause ?? err }, 'send failed');
    if (err.code === 'internal') this.log.error({ err: err.cause ?? err }, 'request failed');
    this.deps.metrics.errorSent(err.code); // metrics: chat_errors_total{code}
    const frame: ErrorFrame = { type: 'error', code: err.code, message: err.message, retryable: err.retryable };
    if (clientMsgId !== undefined) frame.clientMsgId = clientMsgId;
    return frame;
  }
}

/** Bytes go out as a text frame too (a pre-encoded JSON frame). */
const TEXT = { binary: false } as const;

/** ws hands a text frame over as one Buffer (binaryType nodebuffer); the other shapes are converted. */
function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/** The client frame schemas of a node, built once from its limits (the same object for all its connections). */
const schemasOf = new WeakMap<ConnectionLimits, ClientFrameSchemas>();
function frameSchemas(limits: ConnectionLimits): ClientFrameSchemas {
  let s = schemasOf.get(limits);
  if (!s) schemasOf.set(limits, s = clientFrameSchemas(limits));
  return s;
}
