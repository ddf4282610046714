import {
  ChatApiError, ChatClient, compareIds, ConnectionStopped,
  type ConnectionState, type ConversationSummary, type MessageView, type PresenceView, type StopReason,
} from '@streamchat/client';
import { Activity } from './Activity';
import { describe } from './describe';
import { Outbox } from './Outbox';
import { People } from './People';
import { storage, type Session, type StoredSend } from './storage';

/** Messages per history page (scrolling up loads the next one). */
export const PAGE_SIZE = 30;
const TYPING_SEND_EVERY_MS = 1000;

export type Status = 'connected' | 'connecting' | 'offline';

export interface Conversation {
  conversationId: string;
  type: 'direct' | 'group';
  /** A group's name; null for DMs (their title is the peer's name). */
  name: string | null;
  members: string[];
  ownerId: string | null;
  lastMessage: MessageView | null;
  unread: number;
}

/** One line of the message list: a stored message, or an own send not acked yet (or failed). */
export interface Line {
  key: string;
  messageId: string | null;
  senderId: string;
  content: string;
  createdAt: string;
  system: MessageView['system'] | null;
  /** Own messages only. */
  status: 'pending' | 'sent' | 'failed' | null;
  clientMsgId: string | null;
  error: string | null;
}

interface Thread {
  messages: Map<string, MessageView>;
  /** The REST cursor for the next older page; null once the start is reached; undefined before the first page. */
  before: string | null | undefined;
  loading: boolean;
}

/**
 * The page's state and everything it does, over the SDK (no protocol code here): the views read
 * it, call its actions, and re-render on `subscribe`.
 */
export class ChatStore {
  readonly client: ChatClient;
  readonly me: Session;
  status: Status = 'connecting';
  /** Why the connection stopped for good (shown instead of the chat), or null. */
  stopped: StopReason | null = null;
  nodeUrl: string | null = null;
  conversations = new Map<string, Conversation>();
  activeId: string | null = null;
  error: string | null = null;
  private readonly threads = new Map<string, Thread>();
  private readonly people: People;
  private readonly activity: Activity;
  private readonly outbox: Outbox;
  /** DMs opened here that have no message yet: the server creates a DM with its first message. */
  private readonly localOnly = new Set<string>();
  private lastTypingSent = 0;
  private listRefresh: Promise<void> | null = null;
  private refreshAgain = false;
  private readonly listeners = new Set<() => void>();
  private deviceId: string | null = null;

  constructor(baseUrl: string, me: Session, private readonly onSignedOut: (why: string) => void) {
    this.me = me;
    this.client = new ChatClient({ baseUrl, token: me.token });
    this.people = new People(this.client, () => this.changed());
    this.people.setName(me.userId, me.username);
    this.activity = new Activity(() => this.changed());
    this.outbox = new Outbox(me.userId);
    const c = this.client;
    c.on('message', (m) => this.onMessage(m, true));
    c.on('lateMessage', (m) => this.onMessage(m, false));
    c.on('sync', () => { void this.refreshConversations(); });
    c.on('state', (s) => this.onState(s));
    c.on('typing', (e) => {
      if (e.userId === me.userId) return;
      this.activity.typingStarted(e.conversationId, e.userId);
      this.changed();
    });
    c.on('presence', (p) => { this.people.setPresence(p); this.changed(); });
    c.on('receipt', (r) => {
      this.activity.read(r.conversationId, r.userId, r.messageId);
      this.changed();
    });
    c.on('stopped', (e) => { void this.onStopped(e.reason); });
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Checks the token, registers this browser's device once, loads the list and connects. */
  async start(): Promise<void> {
    try {
      await this.client.api.me();
    } catch (err) {
      if (err instanceof ChatApiError && (err.status === 401 || err.status === 404)) return this.onSignedOut('Your session ended. Sign in again.');
      throw err;
    }
    this.deviceId = storage.device(this.me.userId) ?? await this.registerDevice();
    await this.refreshConversations();
    this.connect();
    // Sends a reload interrupted go out again with their clientMsgId: the server acks the first copy.
    for (const s of this.outbox.unsent()) this.transmit(s);
  }

  private async registerDevice(): Promise<string> {
    const { deviceId } = await this.client.api.registerDevice({ name: browserName(), platform: 'web' });
    storage.setDevice(this.me.userId, deviceId);
    return deviceId;
  }

  private connect(): void {
    this.stopped = null;
    this.client.connect(this.deviceId!).catch((err) => {
      if (!(err instanceof ConnectionStopped)) this.showError(err);
    });
  }

  private async onStopped(reason: StopReason): Promise<void> {
    if (reason === 'disconnected') return;
    if (reason === 'unauthorized') return this.onSignedOut('Your session ended. Sign in again.');
    if (reason === 'device_removed') {
      // This browser's device was deleted (from another device): register a new one and go on.
      storage.setDevice(this.me.userId, null);
      this.deviceId = await this.registerDevice();
      this.connect();
      return;
    }
    this.stopped = reason; // replaced: the same device opened in another tab
    this.status = 'offline';
    this.changed();
  }

  /** After `replaced`: take the connection back from the other tab. */
  reconnect(): void {
    this.connect();
    this.changed();
  }

  async logout(): Promise<void> {
    await this.client.disconnect();
    try {
      await this.client.api.logout();
    } catch {
      // already revoked or the node is down: the token is forgotten here either way
    }
  }

  async close(): Promise<void> {
    await this.client.disconnect();
  }

  private onState(s: ConnectionState): void {
    this.status = s === 'connected' ? 'connected' : s === 'connecting' ? 'connecting' : 'offline';
    this.nodeUrl = this.client.nodeUrl;
    this.changed();
  }

  showError(err: unknown): void {
    this.error = describe(err);
    this.changed();
  }

  clearError(): void {
    this.error = null;
    this.changed();
  }

  // ---- conversations --------------------------------------------------------------------------

  /** The server's list (after each catch-up too: it has the unread counts of what came while away). */
  refreshConversations(): Promise<void> {
    if (this.listRefresh) {
      this.refreshAgain = true; // something changed after this one's query may have run
      return this.listRefresh;
    }
    this.listRefresh = (async () => {
      try {
        const list = await this.client.api.conversations();
        for (const s of list) this.upsert(s);
        this.people.lookupNames(list.flatMap((s) => s.members));
        const peers = list.filter((s) => s.type === 'direct').map((s) => this.peerOf(s.members)).filter((p): p is string => p !== null);
        if (peers.length) {
          for (const p of await this.client.api.presenceOf(peers.slice(0, 100))) this.people.setPresence(p);
        }
      } catch (err) {
        this.showError(err);
      } finally {
        this.listRefresh = null;
        if (this.refreshAgain) {
          this.refreshAgain = false;
          void this.refreshConversations();
        }
        this.changed();
      }
    })();
    return this.listRefresh;
  }

  /**
   * Takes the server's summary, unless this page has seen a newer message than the summary's last
   * one (the list was read before it came): then the unread count counted here is the newer one.
   */
  private upsert(s: ConversationSummary): void {
    const known = this.conversations.get(s.conversationId);
    const last = newest(known?.lastMessage ?? null, s.lastMessage);
    const localIsNewer = known?.lastMessage != null && (s.lastMessage === null || compareIds(known.lastMessage.messageId, s.lastMessage.messageId) > 0);
    this.conversations.set(s.conversationId, {
      conversationId: s.conversationId, type: s.type, name: s.name, members: s.members, ownerId: known?.ownerId ?? null,
      lastMessage: last,
      unread: s.conversationId === this.activeId ? 0 : localIsNewer ? known!.unread : s.unreadCount,
    });
    if (s.conversationId === this.activeId && s.unreadCount > 0 && last) this.client.markRead(s.conversationId, last.messageId);
  }

  /** Most recent first (by the last message's id; empty conversations last). */
  sortedConversations(): Conversation[] {
    return [...this.conversations.values()].sort((a, b) => {
      if (!a.lastMessage || !b.lastMessage) return a.lastMessage ? -1 : b.lastMessage ? 1 : 0;
      return compareIds(b.lastMessage.messageId, a.lastMessage.messageId);
    });
  }

  title(c: Conversation): string {
    if (c.type === 'group') return c.name ?? 'group';
    const peer = this.peerOf(c.members);
    return peer ? this.name(peer) : this.me.username;
  }

  peerOf(members: readonly string[]): string | null {
    return members.find((m) => m !== this.me.userId) ?? null;
  }

  open(conversationId: string | null): void {
    this.activeId = conversationId;
    if (conversationId === null) return this.changed();
    const c = this.conversations.get(conversationId);
    if (c) {
      c.unread = 0;
      if (c.lastMessage) this.client.markRead(conversationId, c.lastMessage.messageId);
      if (c.type === 'group') void this.loadGroup(conversationId);
    }
    const t = this.thread(conversationId);
    if (t.before === undefined) void this.loadOlder(conversationId);
    this.changed();
  }

  async startDirect(username: string): Promise<void> {
    const user = await this.client.api.findUser(username.trim());
    this.people.setName(user.userId, user.username);
    if (user.userId === this.me.userId) throw new Error('that is you: start a conversation with someone else');
    const members = [this.me.userId, user.userId].sort();
    const conversationId = `d_${members[0]}_${members[1]}`;
    if (!this.conversations.has(conversationId)) {
      // Created on the server by its first message; until then it lives here.
      this.localOnly.add(conversationId);
      this.conversations.set(conversationId, { conversationId, type: 'direct', name: null, members, ownerId: null, lastMessage: null, unread: 0 });
    }
    if (!this.localOnly.has(conversationId)) this.people.lookupPresence(user.userId);
    this.open(conversationId);
  }

  async createGroup(name: string, usernames: readonly string[]): Promise<void> {
    const ids = await Promise.all(usernames.map(async (u) => (await this.client.api.findUser(u)).userId));
    const g = await this.client.api.createGroup(name.trim(), ids.filter((id) => id !== this.me.userId));
    this.conversations.set(g.conversationId, {
      conversationId: g.conversationId, type: 'group', name: g.name, members: g.members, ownerId: g.ownerId, lastMessage: null, unread: 0,
    });
    this.people.lookupNames(g.members);
    this.open(g.conversationId);
  }

  async addMember(conversationId: string, username: string): Promise<void> {
    const user = await this.client.api.findUser(username.trim());
    this.people.setName(user.userId, user.username);
    this.applyGroup(await this.client.api.addMember(conversationId, user.userId));
  }

  async removeMember(conversationId: string, userId: string): Promise<void> {
    await this.client.api.removeMember(conversationId, userId);
    if (userId === this.me.userId) {
      this.conversations.delete(conversationId);
      if (this.activeId === conversationId) this.activeId = null;
      this.changed();
      return;
    }
    await this.loadGroup(conversationId);
  }

  private async loadGroup(conversationId: string): Promise<void> {
    try {
      this.applyGroup(await this.client.api.group(conversationId));
    } catch (err) {
      // removed from the group meanwhile: the list no longer has it
      if (err instanceof ChatApiError && (err.status === 403 || err.status === 404)) await this.refreshConversations();
      else this.showError(err);
    }
  }

  private applyGroup(g: { conversationId: string; name: string; ownerId: string; members: string[] }): void {
    const c = this.conversations.get(g.conversationId);
    if (c) Object.assign(c, { name: g.name, ownerId: g.ownerId, members: g.members });
    this.people.lookupNames(g.members);
    this.changed();
  }

  // ---- messages -------------------------------------------------------------------------------

  private thread(conversationId: string): Thread {
    let t = this.threads.get(conversationId);
    if (!t) {
      t = { messages: new Map(), before: undefined, loading: false };
      this.threads.set(conversationId, t);
    }
    return t;
  }

  hasOlder(conversationId: string): boolean {
    return this.thread(conversationId).before !== null;
  }

  /** The next older page over REST (the first call loads the newest page). */
  async loadOlder(conversationId: string): Promise<void> {
    const t = this.thread(conversationId);
    if (t.loading || t.before === null) return;
    if (this.localOnly.has(conversationId)) {
      t.before = null; // a DM not created yet: no history
      return this.changed();
    }
    t.loading = true;
    try {
      const page = await this.client.api.history(conversationId, t.before ? { before: t.before, limit: PAGE_SIZE } : { limit: PAGE_SIZE });
      for (const m of page.messages) t.messages.set(m.messageId, m);
      t.before = page.nextBefore ?? null;
      this.people.lookupNames(page.messages.map((m) => m.senderId));
    } catch (err) {
      if (err instanceof ChatApiError && err.status === 404) t.before = null;
      else this.showError(err);
    } finally {
      t.loading = false;
      this.changed();
    }
  }

  private onMessage(m: MessageView, live: boolean): void {
    const t = this.thread(m.conversationId);
    t.messages.set(m.messageId, m);
    this.activity.typingEnded(m.conversationId, m.senderId);
    if (this.localOnly.delete(m.conversationId)) {
      // The DM exists now, so the peer is a contact: their presence is ours to see.
      const peer = this.peerOf(this.conversations.get(m.conversationId)?.members ?? []);
      if (peer) this.people.lookupPresence(peer);
    }
    this.people.lookupNames([m.senderId]);
    let c = this.conversations.get(m.conversationId);
    if (!c || (m.system && m.system.userId === this.me.userId)) {
      void this.refreshConversations(); // a new conversation (its name and members), or our own membership changed
    }
    if (!c) {
      // Counted here until the list names it (upsert keeps what is newer).
      c = { conversationId: m.conversationId, type: m.conversationId.startsWith('d_') ? 'direct' : 'group', name: null, members: [], ownerId: null, lastMessage: null, unread: 0 };
      this.conversations.set(m.conversationId, c);
    }
    // Unread counts as the server does: what others wrote after what we last saw; our own text resets it.
    const isNew = c.lastMessage === null || compareIds(m.messageId, c.lastMessage.messageId) > 0;
    c.lastMessage = newest(c.lastMessage, m);
    if (c.type === 'group' && m.system && c.members.length) void this.loadGroup(m.conversationId);
    const mine = m.senderId === this.me.userId;
    if (m.conversationId === this.activeId && isVisible()) {
      c.unread = 0;
      this.client.markRead(m.conversationId, m.messageId);
    } else if (isNew && mine && m.type === 'text') c.unread = 0;
    else if (isNew && live && !mine) c.unread++;
    this.changed();
  }

  /** Marks the active conversation read (when the window comes back into view). */
  markActiveRead(): void {
    const c = this.activeId ? this.conversations.get(this.activeId) : undefined;
    if (!c) return;
    c.unread = 0;
    if (c.lastMessage) this.client.markRead(c.conversationId, c.lastMessage.messageId);
    this.changed();
  }

  /** The active conversation's lines: stored messages by id, then own sends not acked yet. */
  lines(conversationId: string): Line[] {
    const t = this.thread(conversationId);
    const stored = [...t.messages.values()].sort((a, b) => compareIds(a.messageId, b.messageId)).map((m): Line => ({
      key: m.messageId, messageId: m.messageId, senderId: m.senderId, content: m.content, createdAt: m.createdAt,
      system: m.system ?? null, status: m.senderId === this.me.userId && m.type === 'text' ? 'sent' : null, clientMsgId: null, error: null,
    }));
    const pending = this.outbox.in(conversationId)
      .map((s): Line => ({
        key: s.clientMsgId, messageId: null, senderId: this.me.userId, content: s.content, createdAt: s.createdAt, system: null,
        status: s.failed ? 'failed' : 'pending', clientMsgId: s.clientMsgId, error: s.failed ?? null,
      }));
    return [...stored, ...pending];
  }

  send(conversationId: string, content: string): void {
    const c = this.conversations.get(conversationId);
    if (!c) return;
    const s: StoredSend = { clientMsgId: newClientMsgId(), conversationId, content, createdAt: new Date().toISOString() };
    if (c.type === 'direct') s.to = this.peerOf(c.members) ?? this.me.userId;
    this.outbox.add(s);
    this.transmit(s);
    this.changed();
  }

  /** A failed send again, with the same clientMsgId (the server answers a copy it stored with the first ack). */
  retry(clientMsgId: string): void {
    const s = this.outbox.find(clientMsgId);
    if (!s) return;
    this.outbox.failed(s, undefined);
    this.transmit(s);
    this.changed();
  }

  private transmit(s: StoredSend): void {
    const message = s.to !== undefined ? { to: s.to, content: s.content } : { conversationId: s.conversationId, content: s.content };
    this.client.send({ ...message, clientMsgId: s.clientMsgId }).then((ack) => {
      this.outbox.acked(s.clientMsgId);
      // The ack names the stored message: place it now (its delivery may come later, or not at all to this device).
      const t = this.thread(ack.conversationId);
      if (!t.messages.has(ack.messageId)) {
        this.onMessage({
          messageId: ack.messageId, conversationId: ack.conversationId, senderId: this.me.userId, senderDeviceId: this.deviceId ?? '',
          type: 'text', content: s.content, createdAt: s.createdAt,
        }, false);
      }
      this.changed();
    }, (err: unknown) => {
      this.outbox.failed(s, err instanceof Error ? err.message : String(err));
      this.changed();
    });
  }

  /** Tells the others we type (at most once a second; nothing for a DM not created yet). */
  typed(conversationId: string): void {
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_SEND_EVERY_MS || this.localOnly.has(conversationId)) return;
    this.lastTypingSent = now;
    this.client.typing(conversationId);
  }

  typingNames(conversationId: string): string[] {
    return this.activity.typingIn(conversationId).map((u) => this.people.name(u));
  }

  /** Whether any other member read this message (their watermark is at or past it). */
  readByOthers(conversationId: string, messageId: string): boolean {
    return this.activity.readByOthers(conversationId, messageId);
  }

  presenceOf(userId: string): PresenceView['status'] | null {
    return this.people.presenceOf(userId);
  }

  name(userId: string): string {
    return this.people.name(userId);
  }
}

function newest(a: MessageView | null, b: MessageView | null): MessageView | null {
  if (!a) return b;
  if (!b) return a;
  return compareIds(a.messageId, b.messageId) >= 0 ? a : b;
}

function isVisible(): boolean {
  return typeof document === 'undefined' || document.visibilityState === 'visible';
}

/** 32 hex characters from the CSPRNG (crypto.randomUUID needs a secure context; this does not). */
function newClientMsgId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function browserName(): string {
  const ua = navigator.userAgent;
  const name = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom(e|ium)\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'browser';
  return `web (${name})`;
}
