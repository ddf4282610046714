import { ConversationChains, type ChainItem } from './ConversationChains';
import { DeviceCursor } from './DeviceCursor';
import type { Resolution } from './GapResolver';
import type { SyncService } from './SyncService';
import { isJoinOf, toMessageView } from './views';
import type { StoredCursor, StoredMessage } from './model';
import type { Logger } from '../log';
import { idTimestamp } from './snowflake';
import type { CursorStore } from './ports';

const CATCH_UP_PAGE = 200;
/** Live messages held while catch-up runs (count and bytes); beyond this the client is too far behind to buffer for. */
const MAX_BUFFERED_LIVE = 20_000;
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;
/**
 * How often a connected device's cursor is written. After a node crash (not a graceful stop, which
 * saves every cursor) a device may be sent again what it confirmed in this last interval.
 */
export const CURSOR_SAVE_MS = 2000;

/** A text frame: a JSON string, or its UTF-8 bytes when one message goes to many sockets (encoded once). */
export type Frame = string | Buffer;

/** An id offered to the device: a message with its frame, or (payload null) its own send or a void. */
export type Offered = ChainItem<Frame | null>;

/** First wait before asking about a missing predecessor (a route merely slower than another's arrives well within it), and the longest. */
const REPAIR_FIRST_MS = 150;
const REPAIR_MAX_MS = 2000;

export interface SessionDeps {
  sync: SyncService;
  cursors: CursorStore;
  safetyLagMs: number;
  /** Settles a predecessor a device waits for (src/chat/GapResolver.ts). */
  gaps: { resolve(userId: string, conversationId: string, id: bigint): Promise<Resolution | null> };
  /** The connection's logger (connId, userId, deviceId bound). */
  log: Logger;
  /** What the session counts (src/metrics/Metrics.ts implements it). */
  metrics: { delivered(idAtMs: number | null): void; resyncs: { inc(): void } };
}

/**
 * The sync side of one device connection: first every stored message the device does not have
 * (catch-up, oldest first), then live ones, with no gap and no duplicate at the switch. Live
 * messages that arrive during catch-up are held and sent after it, in id order, minus what catch-up
 * already sent. Every message goes through the cursor's `wants` check, so a second copy (a stream
 * entry re-read after a crash, a resend that was stored twice) never reaches the device.
 *
 * A resync (a node died, Redis lost entries or routes) is a catch-up again: live delivery stops at
 * once (`hold`), the read runs from the cursor, and only then do the held messages follow. A live
 * message is never sent while a read is running, so nothing read from Cassandra can reach the
 * device after a newer live message of its conversation.
 */
export class DeviceSession {
  readonly cursor: DeviceCursor;
  private live = false;
  private held: Offered[] = [];
  /** The cross-node order: ids wait here until the device has their predecessor. */
  private readonly chains = new ConversationChains<Frame | null>(() => this.cursor.safe, (frame) => frame?.length ?? 0);
  private repairTimer: NodeJS.Timeout | null = null;
  /** Voids whose own predecessor is unknown, settled since the last read pass started: they wait for a pass. */
  private voidsAwaitingRead: Offered[] = [];
  /** Such voids a read pass started after: passed when the read ends. */
  private voidsInRead: Offered[] = [];
  private repairDelay = REPAIR_FIRST_MS;
  private heldBytes = 0;
  /** The catch-up or resync read in progress, if any. */
  private reading: Promise<number> | null = null;
  /** A resync was asked for while a read ran: it reads once more before going live. */
  private readAgain = false;
  /** catchUp was called (the device's route is registered): until then a resync only holds. */
  private started = false;
  private closed = false;
  private discarded = false;
  /** The save in flight, if any; at most one runs, and the latest state is written after it. */
  private saving: Promise<void> | null = null;
  private saveAgain = false;
  private nextSaveAt = Date.now() + Math.random() * CURSOR_SAVE_MS;

  constructor(
    private readonly userId: string,
    private readonly deviceId: string,
    start: StoredCursor,
    private readonly send: (frame: Frame) => void,
    private readonly onOverflow: () => void,
    /** A catch-up or resync read failed: the device must reconnect and catch up rather than go on with a hole. */
    private readonly onReadFailed: () => void,
    /** Resolves once the socket's send buffer has drained below a bound (catch-up pacing). */
    private readonly drained: () => Promise<void>,
    private readonly deps: SessionDeps,
  ) {
    this.cursor = new DeviceCursor(start, deps.safetyLagMs);
    // Never past an id the device still waits for: after a reconnect the catch-up must read it.
    this.cursor.pinBelow(() => this.chains.lowestMissing());
  }

  /** A live id for this device (a message already serialized once for all its recipients, its own send, or a void). */
  offer(item: Offered): void {
    if (this.closed) return;
    if (!this.live) {
      const size = item.payload?.length ?? 0;
      if (this.held.length >= MAX_BUFFERED_LIVE || this.heldBytes + size > MAX_BUFFERED_BYTES) {
        this.onOverflow();
        return;
      }
      this.held.push(item);
      this.heldBytes += size;
      return;
    }
    this.pass(item);
  }

  /** Hands the item to the conversation's chain and sends what may go now, in order; returns how many frames were sent. */
  private pass(item: Offered): number {
    const sent = this.sendReleased(this.chains.add(item));
    this.afterChains();
    return sent;
  }

  /** Sends what `chains` released, in order; returns how many frames were sent. */
  private sendReleased(items: Offered[]): number {
    let sent = 0;
    for (const out of items) {
      if (out.payload === null || !this.cursor.wants(out.id)) continue;
      this.cursor.markSent(out.id);
      this.send(out.payload);
      // metrics: a live frame's latency from its id's timestamp; catch-up frames only count (their age is the device's absence).
      this.deps.metrics.delivered(this.live ? idTimestamp(out.id) : null);
      sent++;
    }
    return sent;
  }

  /** Ids waiting for a predecessor are bounded like held ones; while any wait, their predecessors are asked about. */
  private afterChains(): void {
    if (this.chains.size > MAX_BUFFERED_LIVE || this.chains.bytes > MAX_BUFFERED_BYTES) this.onOverflow();
    else this.scheduleRepair();
  }

  /** A stored message as an offered id (no frame for the device's own send or what it already has). */
  private storedItem(m: StoredMessage): Offered {
    const view = toMessageView(m);
    const wanted = m.senderDeviceId !== this.deviceId && this.cursor.wants(m.messageId);
    return {
      conversationId: m.conversationId, id: m.messageId, prev: m.prevId, resets: isJoinOf(view, this.userId),
      payload: wanted ? JSON.stringify({ type: 'message.new', message: view }) : null,
    };
  }

  /** While ids wait for a predecessor, asks (with backoff) what became of it. */
  private scheduleRepair(): void {
    if (this.chains.size === 0) {
      this.repairDelay = REPAIR_FIRST_MS;
      return;
    }
    if (this.repairTimer || this.closed) return;
    this.repairTimer = setTimeout(() => {
      this.repairTimer = null;
      void this.repair();
    }, this.repairDelay);
  }

  private async repair(): Promise<void> {
    const settled = await this.settleBlocked();
    if (this.closed) return;
    this.repairDelay = settled ? REPAIR_FIRST_MS : Math.min(this.repairDelay * 2, REPAIR_MAX_MS);
    this.scheduleRepair();
  }

  /**
   * Asks about each missing predecessor and hands on what is settled (like a row read, so also
   * during a read); returns whether anything was. A void with a known predecessor that is missing
   * too is followed at once, hop by hop, each missing id asked once per call: a run of consecutive
   * voids (a failed batch, a burst refused) settles in one call rather than one repair tick per id.
   * A void whose own predecessor is no longer known is passed only after a whole read from the
   * cursor that started after it was settled (a read in progress reads once more), so a stored
   * message below it is sent first, not after it.
   */
  private async settleBlocked(): Promise<boolean> {
    const asked = new Set<string>();
    let settledAny = false;
    for (;;) {
      const blocked = this.chains.blocked().filter((b) => !asked.has(`${b.conversationId}|${b.missing}`));
      if (blocked.length === 0) return settledAny;
      for (const b of blocked) asked.add(`${b.conversationId}|${b.missing}`);
      const answers = await Promise.all(blocked.map((b) => this.deps.gaps.resolve(this.userId, b.conversationId, b.missing).catch((err) => {
        this.deps.log.warn({ conversationId: b.conversationId, err }, 'could not settle a missing predecessor');
        return null;
      })));
      if (this.closed) return false;
      let needRead = false;
      for (const [i, answer] of answers.entries()) {
        if (!answer) continue;
        const { conversationId, missing } = blocked[i];
        if (answer.kind === 'stored') this.pass(this.storedItem(answer.message));
        else if (answer.kind === 'before') {
          this.sendReleased(this.chains.startAt(conversationId, answer.floor));
          this.afterChains();
        } else {
          const item: Offered = { conversationId, id: missing, prev: answer.prevId, resets: false, payload: null };
          if (answer.prevId !== null) this.pass(item);
          else if (![...this.voidsAwaitingRead, ...this.voidsInRead].some((v) => v.conversationId === conversationId && v.id === missing)) {
            this.voidsAwaitingRead.push(item);
            needRead = true;
          }
        }
      }
      if (!answers.some((a) => a !== null)) return settledAny;
      settledAny = true;
      if (needRead) {
        if (this.reading) this.readAgain = true;
        else await this.read().catch(() => undefined); // a failed read closes the socket (onReadFailed)
        return true;
      }
    }
  }

  /** Sends everything stored above the cursor, then switches to live delivery. Ends with a `sync.complete` frame. */
  async catchUp(): Promise<void> {
    this.started = true;
    const sent = await this.read();
    if (this.closed) return;
    this.send(JSON.stringify({ type: 'sync.complete', count: sent, cursor: this.cursor.safe.toString() }));
  }

  /** Stops live delivery at once (messages are held) and freezes the cursor, before a resync that may take a while to start. */
  hold(): void {
    if (this.closed) return;
    this.live = false;
    this.cursor.hold();
  }

  /**
   * Reads again from the cursor and sends what is missing (after a node died, or Redis lost entries
   * or routes), then what was held meanwhile. Rejects if the read fails; the caller closes the socket
   * (the device reconnects and catches up) rather than let it go on with a hole.
   */
  async resync(): Promise<void> {
    this.deps.metrics.resyncs.inc(); // metrics: chat_resyncs_total
    const sent = await this.read();
    if (sent > 0) this.deps.log.info({ count: sent }, 'resync sent missed messages');
  }

  /** Runs a read from the cursor (or joins the one running, which then reads once more), then goes live. */
  private read(): Promise<number> {
    this.hold();
    // Before catch-up starts the route may not exist yet: going live now could let a message routed
    // before the registration be read later, behind newer live ones. Catch-up reads anyway.
    if (!this.started) return Promise.resolve(0);
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = this.readThenGoLive();
    return this.reading;
  }

  private async readThenGoLive(): Promise<number> {
    let sent = 0;
    try {
      do {
        this.readAgain = false;
        // Voids settled before this pass starts go out after it (see settleBlocked).
        this.voidsInRead.push(...this.voidsAwaitingRead);
        this.voidsAwaitingRead = [];
        sent += await this.sendStored();
      } while (this.readAgain && !this.closed);
      const voids = this.voidsInRead;
      this.voidsInRead = [];
      for (const v of voids) this.pass(v);
    } catch (err) {
      this.onReadFailed();
      throw err;
    } finally {
      // Same microtask as the loop's last check: a resync asked for from now on starts a new read.
      this.reading = null;
    }
    if (!this.closed) this.goLive();
    return sent;
  }

  /** Sends what was held, in id order (minus what the read sent), and lets live messages through again. */
  private goLive(): void {
    const held = this.held.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.held = [];
    this.heldBytes = 0;
    this.live = true;
    for (const h of held) this.pass(h);
    this.cursor.caughtUp();
  }

  /**
   * Every stored message above the cursor that the device wants, a page at a time. Each conversation
   * is read on from where its own previous page ended (not from the page's last id): a message that
   * became visible after an earlier page was read is still sent before anything newer of its
   * conversation.
   */
  private async sendStored(): Promise<number> {
    const from = this.cursor.safe;
    const positions = new Map<string, bigint>();
    let sent = 0;
    for (;;) {
      if (this.closed) return sent;
      // Every row goes through the chains, the device's own sends and what it has too (as known ids).
      const page = await this.deps.sync.readSince(this.userId, from, CATCH_UP_PAGE, { positions });
      for (const m of page.messages) sent += this.pass(this.storedItem(m));
      // A hole (an id that will never be a row) settled now, not after the whole catch-up: the
      // rows behind it go out page by page instead of piling up.
      if (this.chains.size > 0) await this.settleBlocked();
      await this.drained(); // a page at a time: a slow client is paced, not cut off
      if (!page.hasMore) return sent;
    }
  }

  /**
   * `message.received`: cumulative confirmation. The in-memory cursor is what counts while the
   * device is connected; it is persisted by `maybeFlush` (at most every CURSOR_SAVE_MS) and at close.
   */
  received(upto: bigint): void {
    this.cursor.confirm(upto);
  }

  /**
   * Persists the cursor if CURSOR_SAVE_MS passed since the last save (called on a short timer for
   * every session). A device receiving 100 messages a second confirms thousands of ids within the
   * sync lag; writing them once per confirmation would cost Cassandra far more than the messages.
   * Each session starts at a random phase, so saves spread out instead of coming all at once.
   */
  maybeFlush(now: number): void {
    if (now < this.nextSaveAt) return;
    this.nextSaveAt = now + CURSOR_SAVE_MS;
    void this.flush();
  }

  /** Persists the cursor if it moved (also called on a timer, as time moves the lag bound, and at close). */
  flush(): Promise<void> {
    if (this.discarded) return Promise.resolve();
    if (this.saving) {
      this.saveAgain = true;
      return this.saving;
    }
    this.cursor.tick();
    const snap = this.cursor.takeSnapshot();
    if (!snap) return Promise.resolve();
    this.saving = this.deps.cursors.save(this.userId, this.deviceId, snap)
      .catch((err) => {
        this.cursor.markDirty();
        this.deps.log.warn({ err }, 'cursor save failed');
      })
      .finally(() => {
        this.saving = null;
        if (this.saveAgain) {
          this.saveAgain = false;
          void this.flush();
        }
      });
    return this.saving;
  }

  /** The device was deleted: nothing is saved from now on (close then writes nothing). */
  discard(): void {
    this.discarded = true;
  }

  /** Final save: waits for a save in flight, then writes the last state. */
  async close(): Promise<void> {
    this.closed = true;
    this.held = [];
    if (this.repairTimer) clearTimeout(this.repairTimer);
    this.repairTimer = null;
    while (this.saving) await this.saving;
    await this.flush();
  }
}
