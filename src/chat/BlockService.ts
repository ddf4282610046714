import { ChatError } from '../errors';
import { mapLimited } from './mapLimited';
import type { BlockCopyStore, BlockStore, UserStore } from './ports';

export interface BlockView {
  userId: string;
  username: string | null;
  blockedAt: string;
}

/**
 * Blocking. Cassandra (`user_blocks`, BlockStore) is the truth; each blocker's list is copied into
 * Redis (BlockCopyStore), so a check on the send path is one Redis script and never a Cassandra read.
 * Every change writes Cassandra first, then invalidates the copy. A blocked user cannot DM the
 * blocker, add them to a group, or see their presence.
 */
export class BlockService {
  constructor(
    private readonly copies: BlockCopyStore,
    private readonly repo: BlockStore,
    private readonly users: UserStore,
  ) {}

  /** `userId` blocks `targetId`. Idempotent (a repeat keeps the first time); unknown target: not_found. */
  async block(userId: string, targetId: string): Promise<void> {
    if (userId === targetId) throw new ChatError('invalid_request', 'you cannot block yourself');
    if (!(await this.users.findById(targetId))) throw new ChatError('not_found', `no user ${targetId}`);
    if ((await this.blockers(targetId, [userId])).length) return;
    await this.repo.add(userId, targetId, new Date());
    await this.copies.invalidate(userId);
  }

  /** Idempotent. */
  async unblock(userId: string, targetId: string): Promise<void> {
    await this.repo.remove(userId, targetId);
    await this.copies.invalidate(userId);
  }

  async list(userId: string): Promise<BlockView[]> {
    const rows = await this.repo.list(userId);
    return mapLimited(rows, 16, async (r) => ({
      userId: r.blockedId,
      username: (await this.users.findById(r.blockedId))?.username ?? null,
      blockedAt: r.createdAt.toISOString(),
    }));
  }

  /** Refuses with 403 `blocked` if any of `others` blocked `userId`. One Redis script for all of them. */
  async requireNotBlocked(userId: string, others: readonly string[]): Promise<void> {
    const by = await this.blockers(userId, others);
    if (by.length) throw new ChatError('blocked', 'this user does not accept this from you');
  }

  /** Those of `others` who blocked `userId`. */
  async blockers(userId: string, others: readonly string[]): Promise<string[]> {
    const candidates = [...new Set(others)].filter((o) => o !== userId);
    if (!candidates.length) return [];
    return this.copies.blockers(userId, candidates);
  }

  /** Everyone `userId` blocked (for presence: they do not get the user's status). */
  blockedBy(userId: string): Promise<Set<string>> {
    return this.copies.blockedBy(userId);
  }
}
