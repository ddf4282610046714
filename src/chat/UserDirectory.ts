import type { UserStore } from './ports';

const CACHE_LIMIT = 100_000;

/** Whether a user exists, remembered once seen (accounts are never deleted): a direct message to a known peer costs no read. */
export class UserDirectory {
  private readonly knownUsers = new Set<string>();

  constructor(private readonly users: UserStore) {}

  async userExists(userId: string): Promise<boolean> {
    if (this.knownUsers.has(userId)) return true;
    const found = (await this.users.findById(userId)) !== null;
    if (found) {
      if (this.knownUsers.size > CACHE_LIMIT) this.knownUsers.clear();
      this.knownUsers.add(userId);
    }
    return found;
  }
}
