/** Every Redis key the cluster writes, in one place (documented in docs/ARCHITECTURE.md). */
export class Keys {
  constructor(readonly prefix: string) {}

  /** String, JSON NodeInfo, EX lease TTL: the node's id lease, liveness and discovery entry. */
  node(nodeId: number): string { return `${this.nodePrefix()}${nodeId}`; }
  nodePrefix(): string { return `${this.prefix}node:`; }
  /** Set of node ids that may be live (pruned when their lease key is gone). */
  nodes(): string { return `${this.prefix}nodes`; }
  /** Hash deviceId → "nodeId/instance": where each connected device of a user is. */
  routes(userId: string): string { return `${this.prefix}routes:${userId}`; }
  /** Stream of deliveries and control messages for one node (consumer group "delivery"). */
  stream(nodeId: number): string { return `${this.prefix}stream:${nodeId}`; }
  /** String, EX 1 day: set with each trim of a node's stream (its reader lagged); taken by the reader, which then resyncs. */
  streamTrimmed(nodeId: number): string { return `${this.prefix}stream-trimmed:${nodeId}`; }
  /** String "messageId|conversationId", EX 48 h: the idempotency claim of a clientMsgId. */
  clientMsg(userId: string, clientMsgId: string): string { return `${this.prefix}cmid:${userId}:${clientMsgId}`; }
  /** Hash {status, at}: a user's presence as last announced (changed only by the presence script). */
  presence(userId: string): string { return `${this.prefix}presence:${userId}`; }
  /** Set of user ids that connected to one node instance ("nodeId/instance"): swept when it dies. */
  nodeUsers(nodeInstance: string): string { return `${this.prefix}node-users:${nodeInstance}`; }
  /** String, NX: which surviving node sweeps a dead instance's presence. */
  sweep(nodeInstance: string): string { return `${this.prefix}sweep:${nodeInstance}`; }
  /** String, NX PX: a typing event of (user, conversation) passed recently. */
  typing(userId: string, conversationId: string): string { return `${this.prefix}typing:${userId}:${conversationId}`; }
  /** Sorted set nodeId → connections + recent recommendations of the node: discovery load. */
  load(): string { return `${this.prefix}load`; }
  /** Sorted set pick → at (ms), PX Discovery.PICK_TTL_MS: a node's recent recommendations, counted into its load until they expire. */
  picks(nodeId: number): string { return `${this.picksPrefix()}${nodeId}`; }
  picksPrefix(): string { return `${this.prefix}picks:`; }
  /** Stream of push notification jobs (consumer group "push", one consumer per node). */
  pushJobs(): string { return `${this.prefix}push:jobs`; }
  /** Stream of notifications that failed every attempt. */
  pushDeadLetter(): string { return `${this.prefix}push:dead-letter`; }
  /** String, NX PX push.throttleMs: a device was notified about a conversation recently. */
  pushThrottle(deviceId: string, conversationId: string): string { return `${this.prefix}push-throttle:${deviceId}:${conversationId}`; }
  /** String: a group's membership version (only ever raised), checked before a cached member set is used. */
  groupVersion(conversationId: string): string { return `${this.prefix}group-version:${conversationId}`; }
  /** Set of the user ids a user blocked, plus the marker "." (loaded); a copy of Cassandra's user_blocks (BlockService). */
  blocks(userId: string): string { return `${this.prefix}blocks:${userId}`; }
  /** String counter, raised by every block or unblock of the user: a load that raced one does not store its stale copy. */
  blocksGeneration(userId: string): string { return `${this.prefix}blocks-gen:${userId}`; }
  /** Sorted set conversationId → reserved at (ms), plus "." → loaded at (ms): a user's active conversations (ConversationQuota). */
  activeConversations(userId: string): string { return `${this.prefix}convs:${userId}`; }
  /** String counter, raised by every leave: a reload that raced one does not store its stale copy. */
  activeConversationsGeneration(userId: string): string { return `${this.prefix}convs-gen:${userId}`; }
  /** rate-limiter-flexible key prefix for groups created per user per hour. */
  groupCreations(): string { return `${this.prefix}rl-groups`; }
  /** String, EX sequence TTL: the last id placed in a conversation (ConversationSequence). */
  sequence(conversationId: string): string { return `${this.prefix}seq:${conversationId}`; }
  /** List of "id:prev" and "v:id" (void), newest first, capped, EX sequence TTL: recent links of a conversation's sequence. */
  sequenceLinks(conversationId: string): string { return `${this.prefix}seq-links:${conversationId}`; }
  /** Hash deviceId → reserved-at ms, plus field "~" once filled from Cassandra: a user's device slots (DeviceSlots). */
  deviceSlots(userId: string): string { return `${this.prefix}device-slots:${userId}`; }
  /** Hash deviceId → "nodeId/instance/nonce", EX route TTL: a user's open sockets across the cluster (ConnectionSlots). */
  connSlots(userId: string): string { return `${this.prefix}conn-slots:${userId}`; }
  /** String userId, EX token TTL, keyed by the SHA-256 of the bearer token. */
  token(tokenHash: string): string { return `${this.prefix}token:${tokenHash}`; }
  /** String integer, no TTL: the user's token generation; raising it revokes every token issued under an older one. */
  tokenGeneration(userId: string): string { return `${this.prefix}token-gen:${userId}`; }
}
