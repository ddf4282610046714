/**
 * Every Redis key the cluster writes, in one place (documented in docs/ARCHITECTURE.md).
 *
 * Each key is `<prefix>{<tag>}<name>`: the hash tag in braces is what Redis Cluster hashes, so keys
 * that one script or transaction touches together share a tag and land in one slot, while
 * different users, conversations and nodes spread over all slots. The tags:
 * - `{u:<userId>}` a user's keys (routes, presence, blocks, conversation quota, slots, typing);
 * - `{c:<conversationId>}` a conversation's keys (sequence, links, group version, clientMsgId claims);
 * - `{n:<nodeId>}` a node's stream and its trim flag; `{i:<nodeId>/<instance>}` a node instance's user set;
 * - `{nodes}` the node registry and discovery load (one slot: small, and read together).
 * Keys used alone (tokens, token generations, push streams, rate limits) have no tag. On a standalone Redis the braces
 * are just part of the name.
 */
export class Keys {
  constructor(readonly prefix: string) {}

  private user(userId: string): string { return `${this.prefix}{u:${userId}}`; }
  private conversation(conversationId: string): string { return `${this.prefix}{c:${conversationId}}`; }
  private nodeTag(nodeId: number): string { return `${this.prefix}{n:${nodeId}}`; }
  private registry(): string { return `${this.prefix}{nodes}`; }

  /** String, JSON NodeInfo, EX lease TTL: the node's id lease, liveness and discovery entry. */
  node(nodeId: number): string { return `${this.registry()}node:${nodeId}`; }
  /** Set of node ids that may be live (pruned when their lease key is gone). */
  nodes(): string { return `${this.registry()}nodes`; }
  /** Hash deviceId → "nodeId/instance": where each connected device of a user is. */
  routes(userId: string): string { return `${this.user(userId)}routes`; }
  /** Stream of deliveries and control messages for one node (consumer group "delivery"). */
  stream(nodeId: number): string { return `${this.nodeTag(nodeId)}stream`; }
  /** String, EX 1 day: set with each trim of a node's stream (its reader lagged); taken by the reader, which then resyncs. */
  streamTrimmed(nodeId: number): string { return `${this.nodeTag(nodeId)}stream-trimmed`; }
  /** String "messageId|conversationId", EX 48 h: the idempotency claim of a clientMsgId, per sender and conversation. */
  clientMsg(conversationId: string, userId: string, clientMsgId: string): string { return `${this.conversation(conversationId)}cmid:${userId}:${clientMsgId}`; }
  /** Hash {status, at}: a user's presence as last announced (changed only by the presence script). */
  presence(userId: string): string { return `${this.user(userId)}presence`; }
  /** Set of user ids that connected to one node instance ("nodeId/instance"): swept when it dies. */
  nodeUsers(nodeInstance: string): string { return `${this.prefix}{i:${nodeInstance}}node-users`; }
  /** String, NX: which surviving node sweeps a dead instance's presence. */
  sweep(nodeInstance: string): string { return `${this.prefix}{i:${nodeInstance}}sweep`; }
  /** String, NX PX: a typing event of (user, conversation) passed recently. */
  typing(userId: string, conversationId: string): string { return `${this.user(userId)}typing:${conversationId}`; }
  /** Sorted set nodeId → connections + recent recommendations of the node: discovery load. */
  load(): string { return `${this.registry()}load`; }
  /** Sorted set pick → at (ms), PX Discovery.PICK_TTL_MS: a node's recent recommendations, counted into its load until they expire. */
  picks(nodeId: number): string { return `${this.registry()}picks:${nodeId}`; }
  /** Stream of push notification jobs (consumer group "push", one consumer per node). */
  pushJobs(): string { return `${this.prefix}push:jobs`; }
  /** Stream of notifications that failed every attempt. */
  pushDeadLetter(): string { return `${this.prefix}push:dead-letter`; }
  /** String, NX PX push.throttleMs: a device was notified about a conversation recently. */
  pushThrottle(deviceId: string, conversationId: string): string { return `${this.prefix}push-throttle:${deviceId}:${conversationId}`; }
  /** String: a group's membership version (only ever raised), checked before a cached member set is used. */
  groupVersion(conversationId: string): string { return `${this.conversation(conversationId)}group-version`; }
  /** Set of the user ids a user blocked, plus the marker "." (loaded); a copy of Cassandra's user_blocks (BlockService). */
  blocks(userId: string): string { return `${this.user(userId)}blocks`; }
  /** String counter, raised by every block or unblock of the user: a load that raced one does not store its stale copy. */
  blocksGeneration(userId: string): string { return `${this.user(userId)}blocks-gen`; }
  /** Sorted set conversationId → reserved at (ms), plus "." → loaded at (ms): a user's active conversations (ConversationQuota). */
  activeConversations(userId: string): string { return `${this.user(userId)}convs`; }
  /** String counter, raised by every leave: a reload that raced one does not store its stale copy. */
  activeConversationsGeneration(userId: string): string { return `${this.user(userId)}convs-gen`; }
  /** rate-limiter-flexible key prefix for groups created per user per hour. */
  groupCreations(): string { return `${this.prefix}rl-groups`; }
  /** String, EX sequence TTL: the last id placed in a conversation (ConversationSequence). */
  sequence(conversationId: string): string { return `${this.conversation(conversationId)}seq`; }
  /** List of "id:prev" and "v:id" (void), newest first, capped, EX sequence TTL: recent links of a conversation's sequence. */
  sequenceLinks(conversationId: string): string { return `${this.conversation(conversationId)}seq-links`; }
  /** Hash deviceId → reserved-at ms, plus field "~" once filled from Cassandra: a user's device slots (DeviceSlots). */
  deviceSlots(userId: string): string { return `${this.user(userId)}device-slots`; }
  /** Hash deviceId → "nodeId/instance/nonce", EX route TTL: a user's open sockets across the cluster (ConnectionSlots). */
  connSlots(userId: string): string { return `${this.user(userId)}conn-slots`; }
  /** String userId, EX token TTL, keyed by the SHA-256 of the bearer token. */
  token(tokenHash: string): string { return `${this.prefix}token:${tokenHash}`; }
  /**
   * String integer, no TTL: the user's token generation; raising it revokes every token issued under
   * an older one. Untagged (used alone), and so still the name of earlier releases: an upgrade must
   * not forget a revocation.
   */
  tokenGeneration(userId: string): string { return `${this.prefix}token-gen:${userId}`; }
  /** String: the key layout this Redis holds (src/store/redis/keyLayout.ts). */
  keyLayout(): string { return `${this.prefix}key-layout`; }
}
