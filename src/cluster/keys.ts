/** Every Redis key the cluster writes, in one place (documented in docs/ARCHITECTURE.md). */
export class Keys {
  constructor(readonly prefix: string) {}

  /** String, JSON NodeInfo, EX lease TTL: the node's id lease, liveness and discovery entry. */
  node(nodeId: number): string { return `${this.prefix}node:${nodeId}`; }
  /** Set of node ids that may be live (pruned when their lease key is gone). */
  nodes(): string { return `${this.prefix}nodes`; }
  /** Hash deviceId → "nodeId/instance": where each connected device of a user is. */
  routes(userId: string): string { return `${this.prefix}routes:${userId}`; }
  /** Stream of deliveries and control messages for one node (consumer group "delivery"). */
  stream(nodeId: number): string { return `${this.prefix}stream:${nodeId}`; }
  /** String "messageId|conversationId", EX 48 h: the idempotency claim of a clientMsgId. */
  clientMsg(userId: string, clientMsgId: string): string { return `${this.prefix}cmid:${userId}:${clientMsgId}`; }
  /** String userId, EX token TTL, keyed by the SHA-256 of the bearer token. */
  token(tokenHash: string): string { return `${this.prefix}token:${tokenHash}`; }
}
