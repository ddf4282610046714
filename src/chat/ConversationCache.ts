import type { Conversation } from './model';
import type { ConversationStore, GroupVersionStore } from './ports';

const CACHE_LIMIT = 100_000;
/** A cached group is read from Cassandra again after this long, whatever its version says. */
const GROUP_CACHE_MS = 10_000;

/** Conversations' metadata and member sets as this node last read them, checked against each group's version. */
export class ConversationCache {
  /** Direct conversations never change, so their metadata is cached; groups are always read fresh. */
  private readonly directCache = new Map<string, Conversation>();
  /** Groups as last read, each with the version it was read at. */
  private readonly groupCache = new Map<string, { c: Conversation; readAt: number }>();

  constructor(private readonly conversations: ConversationStore, private readonly versions: GroupVersionStore) {}

  /**
   * Current metadata. Direct conversations never change: cached for good. A group is cached too, but
   * used only while its version in Redis (GroupVersions) still matches and for GROUP_CACHE_MS at
   * most (a bound even if a version raise was lost to a Redis failure); otherwise it is read from
   * Cassandra again. Group ids start with "g_". `fresh` always reads Cassandra (membership changes).
   * `knownVersion` is a version the caller read itself at the right moment (a send's placement).
   */
  async get(conversationId: string, fresh = false, knownVersion?: number | null): Promise<Conversation | null> {
    const cached = this.directCache.get(conversationId);
    if (cached) return cached;
    const isGroup = conversationId.startsWith('g_');
    const version = !isGroup ? null : knownVersion !== undefined ? knownVersion : await this.versions.current(conversationId);
    if (isGroup && !fresh) {
      const group = this.groupCache.get(conversationId);
      if (group && version !== null && group.c.version === version && Date.now() - group.readAt < GROUP_CACHE_MS) return group.c;
    }
    const readAt = Date.now();
    const c = await this.conversations.get(conversationId);
    if (c?.type === 'direct') remember(this.directCache, conversationId, c);
    if (c?.type === 'group') {
      if (version === null) await this.versions.raise(conversationId, c.version); // first use, or Redis lost it
      if (version === null || version === c.version) remember(this.groupCache, conversationId, { c, readAt });
    }
    return c;
  }

  /** Whether this node's cached copy of the group lists `userId` (a cheap first check; requireMember is the real one). */
  knownMember(userId: string, conversationId: string): boolean {
    return this.groupCache.get(conversationId)?.c.members.includes(userId) ?? false;
  }
}

function remember<T>(cache: Map<string, T>, id: string, c: T): void {
  if (cache.size > CACHE_LIMIT) cache.clear();
  cache.set(id, c);
}
