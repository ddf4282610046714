import type { StoredMessage } from './model';
import { idTimestamp } from './snowflake';
import type { ConversationStore, IdOwners, MessageStore, SequenceStore } from './ports';
import { buryUnlessStored } from './burial';

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
 * it is recorded void (durably in Cassandra, or in the recent links beside the sequence); void too,
 * after burying it, if the node instance that placed it is gone or the id is older than
 * `settleAfterMs` (the tombstone shadows a write that lands later, so the answer is final
 * everywhere, and no owner acks an id that old). Otherwise its node is running and settles the id
 * itself within that bound — it stores and routes the message, or records and routes a void
 * (CommitPipeline): null, ask again later. A stored message from before the asking user's join is
 * not theirs: the answer is where their conversation starts.
 */
export class GapResolver {
  private readonly recent = new Map<string, { until: number; answer: Promise<Settled | null> }>();

  constructor(
    private readonly messages: MessageStore,
    private readonly memberships: ConversationStore,
    private readonly sequence: SequenceStore,
    private readonly owners: IdOwners,
    /** settleAfterMs(node.maxClockSkewMs): an unstored id older than this is buried whoever owns it. */
    private readonly settleAfterMs: number,
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
    const [stored, links] = await Promise.all([this.messages.get(conversationId, id), this.sequence.links(conversationId)]);
    if (stored) return { kind: 'stored', message: stored };
    // Void: noted in the recent links beside the sequence (Redis), else in the durable record, read
    // only then (most waits end with the message stored, routed late).
    const link = links.get(id);
    if (link?.void) return { kind: 'void', prevId: link.prev };
    const recorded = await this.messages.voidOf(conversationId, id);
    const prevId = recorded?.prevId ?? link?.prev ?? null;
    if (recorded) return { kind: 'void', prevId };
    // Unstored and not void: its owner settles it while it runs and the id is young enough to be
    // acked. Past that, or once the owner is gone, nobody will ack it: bury it and record it void.
    if (Date.now() - idTimestamp(id) <= this.settleAfterMs && await this.owners.idOwnerAlive(id)) return null;
    // Read again now that its owner can no longer ack it: a write that landed before that moment is
    // seen here (the owner's fence: NodeLease.holds), so an acked message is never buried.
    const landed = await this.messages.get(conversationId, id);
    if (landed) return { kind: 'stored', message: landed };
    const burial = await buryUnlessStored(this.messages, conversationId, id, prevId);
    if ('stored' in burial) return { kind: 'stored', message: burial.stored };
    return 'buried' in burial ? { kind: 'void', prevId } : null;
  }
}
