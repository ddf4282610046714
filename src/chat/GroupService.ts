import { ChatError } from '../errors';
import type { BlockService } from './BlockService';
import type { ConversationAccess } from './ConversationAccess';
import type { Conversation } from './model';
import type { ConversationQuotaStore, ConversationStore, GroupVersionStore } from './ports';
import type { SnowflakeGenerator } from './snowflake';
import type { SystemEvents, SystemEventSlot } from './SystemEvents';
import type { UserDirectory } from './UserDirectory';
import type { SystemAction } from './views';

export interface GroupView {
  conversationId: string;
  type: 'group';
  name: string;
  ownerId: string;
  members: string[];
  createdAt: string;
}

const CAS_ATTEMPTS = 8;

/**
 * Small groups (up to `maxMembers`). Membership changes are compare-and-set on the conversation's
 * version, then recorded as a system event in the history. The member set is written before the
 * event takes its id, and a send reads members after taking its id, so a message with an id after
 * a removal never reaches the removed member, and one after a join always reaches the new member.
 */
export class GroupService {
  constructor(
    private readonly repo: ConversationStore,
    private readonly conversations: ConversationAccess,
    private readonly events: SystemEvents,
    private readonly ids: SnowflakeGenerator,
    private readonly users: UserDirectory,
    private readonly versions: GroupVersionStore,
    private readonly maxMembers: number,
    private readonly blocks: BlockService,
    private readonly quota: ConversationQuotaStore,
  ) {}

  /**
   * Nobody in `memberIds` may have blocked the owner (403 blocked); the owner's groups per hour and
   * every member's active conversations are capped (409 limit_reached).
   */
  async create(ownerId: string, name: string, memberIds: readonly string[]): Promise<GroupView> {
    const members = [...new Set([ownerId, ...memberIds])].sort();
    if (members.length > this.maxMembers) throw new ChatError('group_full', `a group has at most ${this.maxMembers} members`);
    await this.requireUsers(members.filter((m) => m !== ownerId));
    await this.blocks.requireNotBlocked(ownerId, members);
    await this.quota.countGroupCreation(ownerId);
    const conversationId = `g_${this.ids.next()}`;
    try {
      await this.quota.reserve(members, conversationId);
    } catch (err) {
      await this.quota.refundGroupCreation(ownerId);
      throw err;
    }
    const c: Conversation = { conversationId, type: 'group', name, ownerId, members, version: 1, createdAt: new Date() };
    let event: SystemEventSlot;
    try {
      event = await this.events.reserveEvent(conversationId);
      await event.unlessFails(this.repo.create(c, event.messageId));
    } catch (err) {
      // The create's error is what the caller needs; a slot not given back heals at the quota's hourly reload.
      await Promise.all(members.map((m) => this.quota.release(m, conversationId))).catch(() => undefined);
      throw err;
    }
    await event.append(ownerId, { action: 'group.created', userId: ownerId }, members);
    return view(c);
  }

  async get(userId: string, conversationId: string): Promise<GroupView> {
    return view(await this.requireGroupMember(userId, conversationId));
  }

  /**
   * The owner adds a member. Adding a current member changes nothing. The added user must not have
   * blocked the owner (403 blocked) and must be under their conversation cap (409 limit_reached).
   */
  async addMember(actorId: string, conversationId: string, userId: string): Promise<GroupView> {
    let reserved = false;
    try {
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        const c = await this.requireGroupMember(actorId, conversationId);
        if (c.ownerId !== actorId) throw new ChatError('forbidden', 'only the owner adds members');
        if (c.members.includes(userId)) {
          reserved = false; // a member: their slot is theirs, whoever took it
          // Already in the set; if an earlier add died before writing the member's row, finish it.
          const row = await this.repo.membership(userId, conversationId);
          if (!row || row.leftAt !== null) await this.recordJoin(c, actorId, userId, c.members, c.version);
          return view(c);
        }
        await this.requireUsers([userId]);
        if (c.members.length >= this.maxMembers) throw new ChatError('group_full', `a group has at most ${this.maxMembers} members`);
        if (!reserved) {
          await this.blocks.requireNotBlocked(actorId, [userId]);
          await this.quota.reserve([userId], conversationId);
          reserved = true;
        }
        const members = [...c.members, userId].sort();
        if (!(await this.repo.compareAndSetMembers(c, members, c.ownerId ?? actorId))) continue;
        reserved = false;
        await this.recordJoin(c, actorId, userId, members, c.version + 1);
        return view({ ...c, members, version: c.version + 1 });
      }
      throw new ChatError('unavailable', 'the group changed too often; retry');
    } catch (err) {
      // As above: the add's error goes back; a slot not given back heals at the hourly reload.
      if (reserved) await this.quota.release(userId, conversationId).catch(() => undefined);
      throw err;
    }
  }

  /** The owner removes anyone; a member removes itself (leaves). An owner who leaves passes ownership on. */
  async removeMember(actorId: string, conversationId: string, userId: string): Promise<void> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const c = await this.requireGroupMember(actorId, conversationId);
      if (actorId !== userId && c.ownerId !== actorId) throw new ChatError('forbidden', 'only the owner removes other members');
      if (!c.members.includes(userId)) {
        // Out of the set; if an earlier removal died before marking the member's row, finish it.
        const row = await this.repo.membership(userId, conversationId);
        if (row && row.leftAt === null) {
          await this.recordLeave(c, actorId, userId, c.members, c.version);
          return;
        }
        throw new ChatError('not_found', `${userId} is not a member`);
      }
      const members = c.members.filter((m) => m !== userId);
      const ownerId = c.ownerId === userId ? (members[0] ?? '') : (c.ownerId ?? '');
      if (!(await this.repo.compareAndSetMembers(c, members, ownerId))) continue;
      await this.recordLeave(c, actorId, userId, members, c.version + 1);
      return;
    }
    throw new ChatError('unavailable', 'the group changed too often; retry');
  }

  /**
   * The join event (its id is the member's first visible message) and the member's row. The new
   * version is raised in Redis first, so every send with an id above the event sees the new set.
   */
  private async recordJoin(c: Conversation, actorId: string, userId: string, members: string[], version: number): Promise<void> {
    await this.versions.raise(c.conversationId, version);
    const event = await this.events.reserveEvent(c.conversationId);
    await event.unlessFails(this.repo.join(userId, c, event.messageId));
    await event.append(actorId, { action: 'member.added', userId }, members);
  }

  /** The removal event (the member sees nothing after it) and the member's row; the version is raised first, as for a join. */
  private async recordLeave(c: Conversation, actorId: string, userId: string, members: string[], version: number): Promise<void> {
    await this.versions.raise(c.conversationId, version);
    const event = await this.events.reserveEvent(c.conversationId);
    await event.unlessFails(this.repo.leave(userId, c.conversationId, event.messageId));
    await this.quota.release(userId, c.conversationId);
    const action: SystemAction = actorId === userId ? 'member.left' : 'member.removed';
    // The removed member gets the event of their own removal, and nothing after it.
    await event.append(actorId, { action, userId }, [...members, userId]);
  }

  private async requireGroupMember(userId: string, conversationId: string): Promise<Conversation> {
    // Membership changes compare-and-set on the version: always the row as stored, never a cached copy.
    const c = await this.conversations.requireMember(userId, conversationId, true);
    if (c.type !== 'group') throw new ChatError('not_found', `${conversationId} is not a group`);
    return c;
  }

  private async requireUsers(userIds: readonly string[]): Promise<void> {
    const exists = await Promise.all(userIds.map((u) => this.users.userExists(u)));
    const missing = userIds.filter((_, i) => !exists[i]);
    if (missing.length) throw new ChatError('unknown_user', `no user ${missing.join(', ')}`);
  }
}

function view(c: Conversation): GroupView {
  return {
    conversationId: c.conversationId, type: 'group', name: c.name ?? '', ownerId: c.ownerId ?? '',
    members: c.members, createdAt: c.createdAt.toISOString(),
  };
}
