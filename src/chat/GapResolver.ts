import type { StoredMessage } from './model';
import type { ConversationStore, IdOwners, MessageStore, SequenceStore } from './ports';

/** What a missing predecessor turned out to be, for one user. */
export type Resolution =
  | { kind: 'stored'; message: StoredMessage }
  /** It will never be a message; `prevId` is its own predecessor (null if no longer known). */
  | { kind: 'void'; prevId: bigint | null }
  /** It is older than the user's join: their conversation starts at `floor` (their join event). */
  | { kind: 'before'; floor: bigint };

type Settled = Exclude<Resolution, { kind: 'before' }>;

/** A settled answer is kept this long for the other devices waiting on the same id. */
const SETTLED_MS = 60_000;
/** An unsettled one ("wait") this long: devices asking together cost one check. */
const UNSETTLED_MS = 200;
const CACHE_LIMIT = 10_000;

/**
 * Settles an id that devices wait for (ConversationChains): the message, if it is stored; void, if
 * its node recorded it so; void too, after burying it, if the node instance that placed it is gone
 * (the tombstone shadows a write that lands later, so the answer is final everywhere). Otherwise
 * that node is running and settles the id itself — it stores and routes the message, or records
 * and routes a void (CommitPipeline, also for a write that finishes past the in-flight bound): null,
 * ask again later. A stored message from before the asking user's join is not theirs: the answer
 * is where their conversation starts.
 */
export class GapResolver {
  private readonly recent = new Map<string, { until: number; answer: Promise<Settled | null> }>();

  constructor(
    private readonly messages: MessageStore,
    private readonly memberships: ConversationStore,
    private readonly sequence: SequenceStore,
    private readonly owners: IdOwners,
  ) {}

  async resolve(userId: string, conversationId: string, id: bigint): Promise<Resolution | null> {
    const answer = await this.settled(conversationId, id);
    if (answer?.kind !== 'stored') return answer;
    const m = await this.memberships.membership(userId, conversationId);
    if (m?.visibleFrom != null && id < m.visibleFrom) return { kind: 'before', floor: m.visibleFrom };
    return answer;
  }

  private settled(conversationId: string, id: bigint): Promise<Settled | null> {
    const key = `${conversationId}|${id}`;
    const now = Date.now();
    const cached = this.recent.get(key);
    if (cached && cached.until > now) return cached.answer;
    const answer = this.settle(conversationId, id);
    if (this.recent.size > CACHE_LIMIT) this.recent.clear();
    const entry = { until: now + UNSETTLED_MS, answer };
    this.recent.set(key, entry);
    answer.then((r) => { if (r) entry.until = Date.now() + SETTLED_MS; }, () => this.recent.delete(key));
    return answer;
  }

  private async settle(conversationId: string, id: bigint): Promise<Settled | null> {
    const stored = await this.messages.get(conversationId, id);
    if (stored) return { kind: 'stored', message: stored };
    const link = (await this.sequence.links(conversationId)).get(id);
    if (link?.void) return { kind: 'void', prevId: link.prev };
    if (await this.owners.idOwnerAlive(id)) return null;
    await this.messages.bury(conversationId, id);
    // Stored just before the bury (a dead node's write landing late)? Then it is gone now, for every
    // reader alike; nobody was acked for it (its node was dead).
    return { kind: 'void', prevId: link?.prev ?? null };
  }
}
