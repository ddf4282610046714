/**
 * What the domain needs from the layers around it, and nothing about how they do it. Storage
 * (src/store: Cassandra), the cluster (src/cluster: Redis, streams) and push (src/push) implement
 * these; the composition root (src/node.ts) hands the concrete classes in.
 */
import type {
  BlockRecord, ClientMessageRef, Conversation, DeviceRecord, Membership, Page, StoredCursor, StoredMessage, UserRecord,
} from './model';
import type { MessageView } from './views';

// ---- Storage (src/store) ----

/** Conversations, their member sets and each member's row (src/store/cassandra/ConversationRepository.ts). */
export interface ConversationStore {
  /** Writes the conversation and each member's index row. Idempotent. */
  create(c: Conversation, visibleFrom: bigint | null): Promise<void>;
  get(conversationId: string): Promise<Conversation | null>;
  /** Replaces the member set if nobody changed it since `c.version` (compare-and-set). */
  compareAndSetMembers(c: Conversation, members: string[], ownerId: string): Promise<boolean>;
  /** Adds (or re-adds) the user's row; they see messages from `visibleFrom` on. */
  join(userId: string, c: Pick<Conversation, 'conversationId' | 'type'>, visibleFrom: bigint | null, fresh?: boolean): Promise<void>;
  /** Ends the user's membership at `leftAt` (their removal event). */
  leave(userId: string, conversationId: string, leftAt: bigint): Promise<void>;
  /** The user's row: the active one, else the former one (leftAt set). */
  membership(userId: string, conversationId: string): Promise<Membership | null>;
  /** The user's current conversations. */
  listForUser(userId: string): Promise<Membership[]>;
  /** Memberships that ended after `after` (a removal's id). */
  removedSince(userId: string, after: bigint): Promise<Membership[]>;
  /** Every row of the user's index. */
  indexRows(userId: string): Promise<Membership[]>;
  /** Moves the read watermark forward (a smaller id never overwrites a larger one). */
  markRead(userId: string, conversationId: string, messageId: bigint): Promise<void>;
}

/** What a contested message id became: a message, or never one (MessageStore.decideFate). */
export type Fate = 'stored' | 'void';

/** Messages (src/store/cassandra/MessageRepository.ts). */
export interface MessageStore {
  insert(m: StoredMessage): Promise<void>;
  /**
   * Makes sure a message id never shows up, even if a write of it lands later (a tombstone), and
   * records it void with its predecessor (null when unknown).
   */
  bury(conversationId: string, messageId: bigint, prevId: bigint | null): Promise<void>;
  /** Records durably that a placed id will never be a message (no write of it was started), with its predecessor (null when unknown). */
  recordVoid(conversationId: string, messageId: bigint, prevId: bigint | null): Promise<void>;
  /** The durable void record of an id (its predecessor, null when unknown), or null when it is not recorded void. */
  voidOf(conversationId: string, messageId: bigint): Promise<{ prevId: bigint | null } | null>;
  /**
   * Decides a contested id's fate in one atomic step (whichever node asks first wins) and returns it:
   * its owner asks for 'stored' once the message is written, a node about to bury it for 'void'.
   */
  decideFate(conversationId: string, messageId: bigint, fate: Fate): Promise<Fate>;
  get(conversationId: string, messageId: bigint): Promise<StoredMessage | null>;
  /** Newest first: ids below `before` (from the newest when null) and at or above `floor`. */
  pageBackward(conversationId: string, before: bigint | null, limit: number, floor?: bigint | null): Promise<Page>;
  /** Oldest first: ids above `after` and at or below `ceiling`. */
  pageForward(conversationId: string, after: bigint, limit: number, ceiling?: bigint | null): Promise<Page>;
  /** The conversation's newest message at or below `ceiling` (null = none). */
  newest(conversationId: string, ceiling: bigint | null): Promise<StoredMessage | null>;
  /** The newest message of each conversation (no ceiling), by conversation id. */
  newestOfEach(conversationIds: string[]): Promise<Map<string, StoredMessage | null>>;
  /** Unread messages for `readerId` above `after`, counted up to `cap`. */
  countUnread(conversationId: string, after: bigint, ceiling: bigint | null, readerId: string, cap: number): Promise<number>;
}

/** Accounts (src/store/cassandra/UserRepository.ts). */
export interface UserStore {
  findById(userId: string): Promise<UserRecord | null>;
}

/** Devices (src/store/cassandra/DeviceRepository.ts). */
export interface DeviceStore {
  create(d: DeviceRecord): Promise<void>;
  list(userId: string): Promise<DeviceRecord[]>;
  get(userId: string, deviceId: string): Promise<DeviceRecord | null>;
  delete(userId: string, deviceId: string): Promise<void>;
}

/** Each device's sync position (src/store/cassandra/CursorRepository.ts). */
export interface CursorStore {
  get(userId: string, deviceId: string): Promise<StoredCursor | null>;
  save(userId: string, deviceId: string, c: StoredCursor): Promise<void>;
  delete(userId: string, deviceId: string): Promise<void>;
}

/** The durable copy of clientMsgId claims (src/store/cassandra/ClientMessageRepository.ts). */
export interface ClientMessageStore {
  record(userId: string, clientMsgId: string, ref: ClientMessageRef): Promise<void>;
  find(userId: string, clientMsgId: string): Promise<ClientMessageRef | null>;
}

/** Whom each user blocked: the truth (src/store/cassandra/BlockRepository.ts). */
export interface BlockStore {
  add(userId: string, blockedId: string, at: Date): Promise<void>;
  remove(userId: string, blockedId: string): Promise<void>;
  list(userId: string): Promise<BlockRecord[]>;
}

// ---- Cluster state in Redis (src/cluster) ----

/** A send's idempotency key, claimed in the step that places its id. */
export interface Claim {
  userId: string;
  clientMsgId: string;
}

export interface PlaceRequest {
  id: bigint;
  claim: Claim | null;
}

export type Placement =
  | {
    placed: true;
    /** The last id placed before this batch (null: none, a sequence's start). */
    prev: bigint | null;
    groupVersion: number | null;
    /** Per request: the message an earlier send with its clientMsgId made (that request was not placed), or null. */
    earlier: Array<ClientMessageRef | null>;
  }
  | { placed: false; last: bigint };

export interface Link {
  /** The id placed before it; null when unknown (the start of a sequence, or a link no longer kept). */
  prev: bigint | null;
  /** Recorded as never to be a message (refused after placement, or its write failed). */
  void: boolean;
}

/** Whether this node's clock is close enough to the cluster's to place message ids (src/cluster/ClockSkew.ts). */
export interface ClockCheck {
  /** Throws the retryable `unavailable` while the clock is off by more than the bound. */
  assertInSync(): void;
}

/** The per-conversation sequence shared by all nodes (src/store/redis/ConversationSequence.ts). */
export interface SequenceStore {
  /**
   * Places ascending ids after the conversation's last one and claims their clientMsgIds (a request
   * whose clientMsgId is claimed already is answered with the claim instead), or says which id is
   * last if the first to place is not above it.
   */
  place(conversationId: string, requests: readonly PlaceRequest[]): Promise<Placement>;
  voided(conversationId: string, id: bigint): Promise<void>;
  links(conversationId: string): Promise<Map<bigint, Link>>;
}

/** The clientMsgId claims in Redis, taken by SequenceStore.place and moved here (src/store/redis/ClientMessageClaims.ts). */
export interface ClaimStore {
  /** Points the claim at `ref`, whatever it held. */
  set(userId: string, clientMsgId: string, ref: ClientMessageRef): Promise<void>;
  /** Points the claim from `from` to `to` (null: gives it up); false if it no longer names `from`. */
  swap(userId: string, clientMsgId: string, from: ClientMessageRef, to: ClientMessageRef | null): Promise<boolean>;
}

/** Each group's membership version, so a cached member set is checked with one cheap read (src/store/redis/GroupVersions.ts). */
export interface GroupVersionStore {
  current(conversationId: string): Promise<number | null>;
  /** Records `version` as current unless a higher one already is. */
  raise(conversationId: string, version: number): Promise<void>;
}

/** The Redis copy of each user's block list, for checks on the send path (src/store/redis/BlockCopies.ts). */
export interface BlockCopyStore {
  /** Those of `candidates` who blocked `userId` (loading a missing copy from BlockStore). */
  blockers(userId: string, candidates: readonly string[]): Promise<string[]>;
  /** Everyone `userId` blocked. */
  blockedBy(userId: string): Promise<Set<string>>;
  /** After a block or unblock was written: the copy is dropped, and a load that raced the change is not stored. */
  invalidate(userId: string): Promise<void>;
}

/** Caps on conversations, counted atomically across nodes (src/store/redis/ConversationQuota.ts). */
export interface ConversationQuotaStore {
  /** Counts one group creation of `userId` against the hourly cap (409 `limit_reached` past it). */
  countGroupCreation(userId: string): Promise<void>;
  /** Gives back a creation that did not happen. */
  refundGroupCreation(userId: string): Promise<void>;
  /** Takes a slot in `conversationId` for each user, all or none (409 `limit_reached` if any is at the cap). */
  reserve(userIds: readonly string[], conversationId: string): Promise<void>;
  /** A leave, or a create that failed after reserving. */
  release(userId: string, conversationId: string): Promise<void>;
}

/** The cap on a user's devices, counted atomically across nodes (src/store/redis/DeviceSlots.ts). */
export interface DeviceSlotStore {
  /** Takes a slot for a new device (409 `limit_reached` past the cap). */
  reserve(userId: string, deviceId: string): Promise<void>;
  /** Frees the device's slot. */
  release(userId: string, deviceId: string): Promise<void>;
}

// ---- Routing to devices (src/cluster/Cluster.ts) and push (src/push) ----

/** Where a stored message goes: every connected device of the given users (src/cluster/Cluster.ts). */
export interface MessageRouter {
  /** Resolves with the users that had no connected device. */
  deliver(message: MessageView, prevId: bigint | null, userIds: readonly string[], excludeDeviceId: string): Promise<string[]>;
  /** Tells the devices of `userIds` that a placed id will never be a message, so the next one need not wait for it. */
  deliverVoid(conversationId: string, messageId: bigint, prevId: bigint | null, userIds: readonly string[]): Promise<void>;
}

/** Sends frames (receipts, typing, presence) to every connected device of some users (src/cluster/Cluster.ts). */
export interface EventFanout {
  fanout(frame: object, userIds: readonly string[]): Promise<void>;
}

/** Which connections to close: the user's, narrowed by device, by token, or to tokens older than a generation. */
export interface KickRequest {
  userId: string;
  deviceId?: string;
  tokenHash?: string;
  generationBelow?: number;
  reason: 'device_removed' | 'logged_out';
}

/** Closes live connections anywhere in the cluster (src/cluster/Cluster.ts). */
export interface ConnectionKicker {
  kick(k: KickRequest): Promise<void>;
}

/** Which node instances are still running (src/cluster/Cluster.ts). */
export interface IdOwners {
  /** Whether the node instance that made this message id may still be running (it then settles the message itself). */
  idOwnerAlive(messageId: bigint): Promise<boolean>;
  /**
   * Whether this node's lease still covers an id this node made (locally, or by a read of the lease
   * when refreshes came late): the fencing step between a message's write and its routing and ack.
   * False means peers may be settling it.
   */
  stillOwns(messageId: bigint): Promise<boolean>;
}

/** Push notifications for recipients with no connected device (src/push/PushQueue.ts). */
export interface OfflineNotifier {
  enqueue(message: MessageView, userIds: readonly string[]): Promise<void>;
}

/** When each user was last active, kept past Redis's copy of their status (src/store/cassandra/PresenceRepository.ts). */
export interface LastActiveStore {
  record(userId: string, at: Date): Promise<void>;
  lastActive(userId: string): Promise<Date | null>;
}
