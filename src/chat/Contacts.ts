import type { ConversationCache } from './ConversationCache';
import { mapLimited } from './mapLimited';
import type { ConversationStore } from './ports';

/** Whom a user shares a conversation with (presence goes to them). */
export class Contacts {
  constructor(private readonly conversations: ConversationStore, private readonly cache: ConversationCache) {}

  /** Everyone sharing a current conversation with the user (a direct peer comes from the id itself). */
  async contactsOf(userId: string): Promise<string[]> {
    const rows = await this.conversations.listForUser(userId);
    const ids = new Set<string>();
    const groups: string[] = [];
    for (const row of rows) {
      if (row.type === 'direct') {
        for (const part of row.conversationId.slice(2).split('_')) if (part !== userId) ids.add(part);
      } else {
        groups.push(row.conversationId);
      }
    }
    const members = await mapLimited(groups, 16, async (cid) => (await this.cache.get(cid))?.members ?? []);
    for (const list of members) for (const m of list) if (m !== userId) ids.add(m);
    return [...ids];
  }
}
