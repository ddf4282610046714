import { backoffDelay, type BackoffOptions } from './backoff';
import { ChatApiError } from './ChatApiError';
import { Emitter } from './Emitter';
import { FramePacer } from './FramePacer';
import { Inbox } from './Inbox';
import { Outbox, type Outgoing, type SendAck } from './Outbox';
import { RestApi, type FetchLike } from './RestApi';
import { globalWebSocket, OPEN, type CloseEventLike, type MessageEventLike, type WebSocketConstructor, type WebSocketLike } from './socket';
import {
  CloseCodes, type ClientFrame, type LoginResponse, type MessageView, type PresenceView, type ServerFrame, type SignupResponse,
} from './wire';

export interface ChatClientOptions {
  /** REST base URL of a node (`http://127.0.0.1:8080`), or of several: reads and node discovery fail over between them. */
  baseUrl: string | readonly string[];
  /** WebSocket constructor; defaults to the global one. In Node 20 pass `require('ws')`. */
  WebSocket?: WebSocketConstructor;
  /** `fetch`; defaults to the global one. */
  fetch?: FetchLike;
  /** A token from an earlier login, to skip `login`. */
  token?: string;
  /** Connect to this WebSocket URL instead of asking `/api/nodes/recommend` (e.g. behind one load balancer). */
  wsUrl?: string;
  /** Reconnect delays (full jitter). @default { initialDelayMs: 250, maxDelayMs: 10000 } */
  reconnect?: BackoffOptions;
  /** Resend delays after a retryable error on a send. @default { initialDelayMs: 200, maxDelayMs: 5000 } */
  resend?: BackoffOptions;
  /** Frames per second this client writes at most (the server refuses more than `ws.maxFramesPerSecond`, 200 by default). @default 100 */
  maxFramesPerSecond?: number;
  /** How long received messages wait before one `message.received` confirms them. @default 100 */
  confirmDelayMs?: number;
  /** Recent message ids remembered per conversation to drop copies. @default 1000 */
  dedupeWindow?: number;
}

/** `connecting`: looking for a node or opening a socket; `connected`: socket open (catch-up, then live); `offline`: waiting to reconnect; `closed`: stopped. */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'offline' | 'closed';

/** Why the client stopped reconnecting on its own. */
export type StopReason = 'unauthorized' | 'device_removed' | 'replaced' | 'disconnected';

export interface TypingEvent { conversationId: string; userId: string }
export interface ReceiptEvent { conversationId: string; userId: string; messageId: string }
export interface SyncEvent { count: number; cursor: string }

export type ChatEvents = {
  /** A new message, once, in id order within its conversation (catch-up first, then live). */
  message: (m: MessageView) => void;
  /**
   * A message below one already delivered in its conversation that was never delivered (the
   * documented edge when Redis loses its data mid-burst): place it by `messageId`.
   */
  lateMessage: (m: MessageView) => void;
  /** Catch-up is over (after each connect): everything missed while offline has been delivered. */
  sync: (e: SyncEvent) => void;
  typing: (e: TypingEvent) => void;
  presence: (e: PresenceView) => void;
  /** A member read up to `messageId`. */
  receipt: (e: ReceiptEvent) => void;
  state: (s: ConnectionState) => void;
  /** No more reconnects: the token was revoked, the device deleted, another connection of the device replaced this one, or `disconnect()`. */
  stopped: (e: { reason: StopReason; closeCode?: number }) => void;
  /** An error frame that answers no send (a `typing` or `markRead` refused, a frame rate exceeded). */
  error: (e: ChatApiError) => void;
};

/** `connect()` rejects with this when the client stops before its first catch-up ends. */
export class ConnectionStopped extends Error {
  override readonly name = 'ConnectionStopped';
  constructor(readonly reason: StopReason, readonly closeCode?: number) {
    super(`connection stopped: ${reason}${closeCode ? ` (close ${closeCode})` : ''}`);
  }
}

/** How one socket ended. */
interface Outcome { opened: boolean; synced: boolean; code: number; stop?: StopReason }

const FATAL: Record<number, StopReason> = {
  [CloseCodes.unauthorized]: 'unauthorized',
  [CloseCodes.deviceRemoved]: 'device_removed',
  [CloseCodes.replaced]: 'replaced',
};

/**
 * A streamchat client: REST calls (`api`), and one device's real-time connection with everything a
 * correct client needs around it:
 *
 * - connect: asks `/api/nodes/recommend` for a node on every (re)connect; reconnects with full-jitter
 *   backoff; stops on 4001 (token revoked), 4003 (device deleted) and 4009 (replaced) with `stopped`;
 * - receive: catch-up then live, each message once and in id order per conversation (`message`),
 *   confirmed to the server (`message.received`) after the listeners ran;
 * - send: an outbox that resends with the same clientMsgId after a reconnect until acked, so a send
 *   is neither lost nor doubled; `send()` rejects only on a non-retryable error;
 * - typing, presence and read receipts.
 */
export class ChatClient extends Emitter<ChatEvents> {
  readonly api: RestApi;
  private readonly WS: WebSocketConstructor | undefined;
  private readonly opts: ChatClientOptions;
  private readonly inbox: Inbox;
  private readonly outbox = new Outbox();
  /** The latest `markRead` per conversation not yet written to a socket. */
  private readonly reads = new Map<string, string>();

  private currentState: ConnectionState = 'idle';
  private device: string | null = null;
  private user: string | null = null;
  private running = false;
  private socket: WebSocketLike | null = null;
  private pacer: FramePacer | null = null;
  private synced = false;
  private confirmTimer: ReturnType<typeof setTimeout> | null = null;
  /** Ends the current backoff wait early (disconnect). */
  private wake: (() => void) | null = null;
  /** Node URLs that failed since the last successful open: discovery's answer is not trusted for them. */
  private readonly failedUrls = new Set<string>();
  private failedOpens = 0;
  private loop: Promise<void> | null = null;
  private url: string | null = null;
  private firstSync: { resolve(): void; reject(err: Error): void } | null = null;

  constructor(opts: ChatClientOptions) {
    super();
    this.opts = opts;
    const fetchFn = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis);
    if (!fetchFn) throw new TypeError('ChatClient: no global fetch; pass the fetch option');
    this.api = new RestApi(opts.baseUrl, fetchFn, opts.token ?? null);
    this.WS = opts.WebSocket ?? globalWebSocket();
    this.inbox = new Inbox(opts.dedupeWindow ?? 1000);
  }

  get state(): ConnectionState { return this.currentState; }
  get token(): string | null { return this.api.token; }
  /** The logged-in user (after `login`). */
  get userId(): string | null { return this.user; }
  /** The connected device (after `connect`). */
  get deviceId(): string | null { return this.device; }
  /** The WebSocket URL of the node this client is connected to (null while not connected). */
  get nodeUrl(): string | null { return this.socket && this.pacer ? this.url : null; }
  /** Counts since construction: messages delivered, late ones, and copies dropped. */
  readonly stats = { delivered: 0, late: 0, duplicates: 0 };
  /** Sends not acked yet. */
  get pendingSends(): number { return this.outbox.size; }

  signup(username: string, password: string): Promise<SignupResponse> {
    return this.api.signup(username, password);
  }

  /** Logs in; the token is used for every later call and for the socket. */
  async login(username: string, password: string): Promise<LoginResponse> {
    const r = await this.api.login(username, password);
    this.user = r.userId;
    return r;
  }

  /**
   * Connects `deviceId` (from `api.registerDevice`) and keeps it connected until `disconnect()` or a
   * stop. Resolves when the first catch-up is over; rejects with ConnectionStopped if the client
   * stops first. Sends made before or while offline go out once connected.
   */
  connect(deviceId: string): Promise<void> {
    if (this.running) return Promise.reject(new Error('ChatClient: already connected; call disconnect() first'));
    if (!this.WS) return Promise.reject(new TypeError('ChatClient: no global WebSocket; pass the WebSocket option (in Node 20: require("ws"))'));
    if (this.api.token === null) return Promise.reject(new ChatApiError('unauthorized', 'log in before connecting', 401, undefined, false));
    this.device = deviceId;
    this.running = true;
    this.failedOpens = 0;
    const first = new Promise<void>((resolve, reject) => { this.firstSync = { resolve, reject }; });
    this.loop = this.run();
    return first;
  }

  /** Closes the socket and stops reconnecting. Pending sends stay in the outbox for the next `connect()`. */
  async disconnect(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    const ws = this.socket;
    if (ws && ws.readyState === OPEN) {
      // What the app received is confirmed before the socket goes, so the next catch-up does not
      // send it again (a few frames at most, past the pacer).
      for (const messageId of this.inbox.takeConfirmations()) ws.send(JSON.stringify({ type: 'message.received', messageId }));
    }
    ws?.close(1000, 'client disconnect');
    await this.loop;
  }

  /**
   * Sends a message; resolves with its ack (`messageId`, `conversationId`) once it is stored. While
   * offline it waits in the outbox. Retryable errors and reconnects resend it with the same
   * `clientMsgId` (give your own to keep it across restarts of your app).
   */
  send(message: Outgoing & { clientMsgId?: string }): Promise<SendAck> {
    const clientMsgId = message.clientMsgId ?? newClientMsgId();
    if (this.outbox.has(clientMsgId)) {
      return Promise.reject(new ChatApiError('invalid_request', `a send with clientMsgId ${clientMsgId} is already pending`, 0, undefined, false));
    }
    const target = 'to' in message ? { to: message.to } : { conversationId: message.conversationId };
    // An id the app gave may have been sent before (by an earlier run of the app).
    const frame = { type: 'message.send' as const, clientMsgId, ...target, content: message.content, ...(message.clientMsgId ? { resent: true } : {}) };
    return new Promise<SendAck>((resolve, reject) => {
      this.outbox.add(frame, resolve, reject);
      this.write(frame);
    });
  }

  /** Tells the other members you are typing (dropped while offline; the server passes one per second). */
  typing(conversationId: string): boolean {
    return this.write({ type: 'typing', conversationId });
  }

  /** Moves your read watermark in the conversation (members get `receipt`); kept until a socket takes it. */
  markRead(conversationId: string, messageId: string): void {
    this.reads.set(conversationId, messageId);
    this.flushReads();
  }

  // ---- connection lifecycle -----------------------------------------------------------------

  private async run(): Promise<void> {
    let attempt = 0;
    let stop: StopReason = 'disconnected';
    let closeCode: number | undefined;
    while (this.running) {
      this.setState('connecting');
      const outcome = await this.attempt();
      if (outcome.stop) {
        stop = outcome.stop;
        closeCode = outcome.code || undefined;
        break;
      }
      if (!this.running) break;
      attempt = outcome.synced ? 0 : attempt + 1;
      // Abuse (1008) and "storage unavailable" (1013) ask for a real pause, not an instant retry.
      if (outcome.code === CloseCodes.policyViolation || outcome.code === CloseCodes.tryAgainLater) attempt = Math.max(attempt, 3);
      this.setState('offline');
      await this.pause(backoffDelay(attempt, this.opts.reconnect));
    }
    this.running = false;
    this.setState('closed');
    this.firstSync?.reject(new ConnectionStopped(stop, closeCode));
    this.firstSync = null;
    this.emit('stopped', closeCode === undefined ? { reason: stop } : { reason: stop, closeCode });
  }

  /** One connection: pick a node, open, run until the socket closes. */
  private async attempt(): Promise<Outcome> {
    let url: string;
    try {
      // Sockets that never opened may be refused at the upgrade (401/403), which a WebSocket
      // cannot see: REST tells whether the token and the device are still good.
      if (this.failedOpens >= 2) {
        const devices = await this.api.devices();
        if (!devices.some((d) => d.deviceId === this.device)) return { opened: false, synced: false, code: 0, stop: 'device_removed' };
      }
      url = await this.pickNode();
    } catch (err) {
      if (err instanceof ChatApiError && err.status === 401) return { opened: false, synced: false, code: 0, stop: 'unauthorized' };
      this.failedOpens++;
      return { opened: false, synced: false, code: 0 };
    }
    if (!this.running) return { opened: false, synced: false, code: 0 };
    const outcome = await this.open(url);
    if (!outcome.opened) {
      this.failedOpens++;
      this.failedUrls.add(url);
    }
    return outcome;
  }

  /** The node to connect to: discovery's pick, unless that one just failed and another is live. */
  private async pickNode(): Promise<string> {
    if (this.opts.wsUrl) return this.opts.wsUrl;
    const { wsUrl } = await this.api.recommend();
    this.api.learnBase(restBaseOf(wsUrl));
    if (!this.failedUrls.has(wsUrl)) return wsUrl;
    // A node that died stays listed until its lease expires: prefer one that did not just fail.
    const other = (await this.api.nodes()).find((n) => !this.failedUrls.has(n.wsUrl));
    return other?.wsUrl ?? wsUrl;
  }

  private open(url: string): Promise<Outcome> {
    const query = `token=${encodeURIComponent(this.api.token ?? '')}&deviceId=${encodeURIComponent(this.device ?? '')}`;
    return new Promise<Outcome>((resolve) => {
      let ws: WebSocketLike;
      try {
        ws = new (this.WS as WebSocketConstructor)(`${url}${url.includes('?') ? '&' : '?'}${query}`);
      } catch {
        resolve({ opened: false, synced: false, code: 0 });
        return;
      }
      let opened = false;
      this.socket = ws;
      this.url = url;
      this.synced = false;
      ws.onopen = () => {
        opened = true;
        if (this.socket === ws) this.onOpen(ws);
      };
      ws.onmessage = (e: MessageEventLike) => {
        if (this.socket === ws) this.onFrame(e.data);
      };
      ws.onerror = () => undefined; // a close event follows
      ws.onclose = (e: CloseEventLike) => {
        const synced = this.synced;
        if (this.socket === ws) this.onSocketGone();
        const code = e.code;
        if (code === CloseCodes.messageTooBig) {
          // Only a send can be that large: the largest pending one is refused rather than resent forever.
          this.outbox.failLargest(new ChatApiError('content_too_long', 'the message is larger than the server accepts (closed 1009)', 0, undefined, false));
        }
        const stop = FATAL[code];
        resolve(stop ? { opened, synced, code, stop } : { opened, synced, code });
      };
      // disconnect() may have come while the socket was being created.
      if (!this.running) ws.close(1000, 'client disconnect');
    });
  }

  private onOpen(ws: WebSocketLike): void {
    this.failedUrls.clear();
    this.failedOpens = 0;
    this.pacer = new FramePacer(this.opts.maxFramesPerSecond ?? 100, (frame) => {
      if (ws.readyState === OPEN) ws.send(frame);
    });
    this.setState('connected');
    // The outbox first, oldest first: the server answers a socket's sends in the order they came.
    this.outbox.cancelRetries();
    for (const frame of this.outbox.frames()) this.pacer.send(JSON.stringify(frame));
    this.flushReads();
  }

  private onSocketGone(): void {
    this.socket = null;
    this.pacer?.stop();
    this.pacer = null;
    this.synced = false;
    if (this.confirmTimer !== null) clearTimeout(this.confirmTimer);
    this.confirmTimer = null;
    this.inbox.dropConfirmations();
    this.outbox.cancelRetries();
  }

  private onFrame(data: unknown): void {
    if (typeof data !== 'string') return; // the server sends text frames only
    let f: ServerFrame;
    try {
      f = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    switch (f.type) {
      case 'message.new': {
        const verdict = this.inbox.accept(f.message);
        if (verdict === 'deliver') {
          this.stats.delivered++;
          this.emit('message', f.message);
        } else if (verdict === 'late') {
          this.stats.late++;
          this.emit('lateMessage', f.message);
        } else this.stats.duplicates++;
        // Copies are confirmed too: the server sent them because it lacks the confirmation.
        this.inbox.received(f.message.messageId);
        this.scheduleConfirm();
        return;
      }
      case 'message.ack':
        this.outbox.ack(f);
        return;
      case 'sync.complete':
        this.synced = true;
        this.flushConfirmations();
        this.emit('sync', { count: f.count, cursor: f.cursor });
        this.firstSync?.resolve();
        this.firstSync = null;
        return;
      case 'error': {
        const err = new ChatApiError(f.code, f.message, 0, undefined, f.retryable);
        if (f.clientMsgId !== undefined && this.outbox.has(f.clientMsgId)) {
          if (!f.retryable) this.outbox.fail(f.clientMsgId, err);
          else this.outbox.retryLater(f.clientMsgId, (n) => backoffDelay(n, this.opts.resend ?? RESEND), (frame) => this.write(frame));
          return;
        }
        this.emit('error', err);
        return;
      }
      case 'presence':
        this.emit('presence', { userId: f.userId, status: f.status, lastActiveAt: f.lastActiveAt });
        return;
      case 'typing':
        this.emit('typing', { conversationId: f.conversationId, userId: f.userId });
        return;
      case 'receipt.read':
        this.emit('receipt', { conversationId: f.conversationId, userId: f.userId, messageId: f.messageId });
        return;
      default:
        return; // a frame type newer than this client
    }
  }

  /** Writes a frame on the open socket (paced); false while offline. */
  private write(frame: ClientFrame): boolean {
    if (!this.pacer) return false;
    this.pacer.send(JSON.stringify(frame));
    return true;
  }

  private flushReads(): void {
    if (!this.pacer) return;
    for (const [conversationId, messageId] of this.reads) this.write({ type: 'message.read', conversationId, messageId });
    this.reads.clear();
  }

  /** Confirmations go out in batches: one `message.received` usually covers many messages. */
  private scheduleConfirm(): void {
    if (this.inbox.pendingConfirmations >= CONFIRM_BATCH) {
      this.flushConfirmations();
      return;
    }
    if (this.confirmTimer !== null) return;
    this.confirmTimer = setTimeout(() => {
      this.confirmTimer = null;
      this.flushConfirmations();
    }, this.opts.confirmDelayMs ?? 100);
  }

  private flushConfirmations(): void {
    if (this.confirmTimer !== null) clearTimeout(this.confirmTimer);
    this.confirmTimer = null;
    for (const messageId of this.inbox.takeConfirmations()) this.write({ type: 'message.received', messageId });
  }

  private setState(s: ConnectionState): void {
    if (s === this.currentState) return;
    this.currentState = s;
    this.emit('state', s);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

const RESEND: BackoffOptions = { initialDelayMs: 200, maxDelayMs: 5000 };
/** Received messages that trigger a confirmation at once rather than after the delay. */
const CONFIRM_BATCH = 200;

/** `ws://host:port/ws` → `http://host:port` (a node's REST base, as discovery reports its socket URL). */
function restBaseOf(wsUrl: string): string {
  return wsUrl.replace(/^ws(s?):\/\//, 'http$1://').replace(/\/ws\/?(\?.*)?$/, '');
}

/** A unique clientMsgId (the server keeps it 48 h per user). */
function newClientMsgId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}
