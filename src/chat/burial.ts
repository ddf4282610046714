import type { StoredMessage } from './model';
import type { MessageStore } from './ports';

/** What became of an id nobody can ack any more (buryUnlessStored). */
export type Burial = { stored: StoredMessage } | { buried: true } | { pending: true };

/**
 * Settles an unstored id that nobody can ack any more (its owner is gone, its lease lapsed, or the
 * id is past settleAfterMs). Its owner may be deciding at the same moment, so 'void' is asked of
 * its fate first (one atomic step, Order 12): if 'stored' won, the message is returned (or `pending`
 * while its row is not readable yet); otherwise the id is buried, with its predecessor when known.
 */
export async function buryUnlessStored(messages: Pick<MessageStore, 'decideFate' | 'get' | 'bury'>,
  conversationId: string, id: bigint, prevId: bigint | null): Promise<Burial> {
  if (await messages.decideFate(conversationId, id, 'void') === 'stored') {
    const message = await messages.get(conversationId, id);
    return message ? { stored: message } : { pending: true };
  }
  // Stored just before the bury (a write landing late)? Then it is gone now, for every reader
  // alike; nobody was acked for it (its owner could no longer ack it, and 'void' won its fate).
  await messages.bury(conversationId, id, prevId);
  return { buried: true };
}
