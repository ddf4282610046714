import type { MessageRepository, StoredMessage } from '../store/MessageRepository';
import { IN_FLIGHT_BOUND_MS, type IdOwners } from './ChatService';
import type { SequenceStore } from './Sequencer';
import { idTimestamp } from './snowflake';

/** What a missing predecessor turned out to be. */
export type Resolution =
  | { kind: 'stored'; message: StoredMessage }
  /** It will never be a message; `prevId` is its own predecessor (null if no longer known). */
  | { kind: 'void'; prevId: bigint | null };

/** A settled answer is kept this long for the other devices waiting on the same id. */
const SETTLED_MS = 60_000;
/** An unsettled one ("wait") this long: devices asking together cost one check. */
const UNSETTLED_MS = 200;
const CACHE_LIMIT = 10_000;

/**
 * Settles an id that devices wait for (ConversationChains): the message, if it is stored; void, if
 * its node recorded it so; void too, after burying it, if its node instance is gone or it is older
 * than any write can still be in flight (the tombstone shadows a write that lands later, so the
 * answer is final everywhere). Otherwise its node is alive and still working on it: null, ask again
 * later (it will route the message or the void).
 */
export class GapResolver {
  private readonly recent = new Map<string, { until: number; answer: Promise<Resolution | null> }>();

  constructor(private readonly messages: MessageRepository, private readonly sequence: SequenceStore, private readonly owners: IdOwners) {}

  resolve(conversationId: string, id: bigint): Promise<Resolution | null> {
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

  private async settle(conversationId: string, id: bigint): Promise<Resolution | null> {
    const stored = await this.messages.get(conversationId, id);
    if (stored) return { kind: 'stored', message: stored };
    const link = (await this.sequence.links(conversationId)).get(id);
    if (link?.void) return { kind: 'void', prevId: link.prev };
    if (idTimestamp(id) > Date.now() - IN_FLIGHT_BOUND_MS && await this.owners.idOwnerAlive(id)) return null;
    await this.messages.bury(conversationId, id);
    return { kind: 'void', prevId: link?.prev ?? null };
  }
}
