import type { ChatClient, PresenceView } from '@streamchat/client';

/**
 * Who the ids are: usernames and the presence of contacts, looked up once each and kept for the
 * page. `changed` re-renders when an answer arrives.
 */
export class People {
  private readonly names = new Map<string, string>();
  private readonly nameLookups = new Set<string>();
  private readonly presence = new Map<string, PresenceView['status']>();

  constructor(private readonly client: ChatClient, private readonly changed: () => void) {}

  name(userId: string): string {
    return this.names.get(userId) ?? userId;
  }

  setName(userId: string, username: string): void {
    this.names.set(userId, username);
  }

  /** Looks up the names not known or asked for yet (in the background). */
  lookupNames(userIds: readonly string[]): void {
    for (const id of new Set(userIds)) {
      if (this.names.has(id) || this.nameLookups.has(id)) continue;
      this.nameLookups.add(id);
      this.client.api.user(id).then((u) => {
        this.names.set(u.userId, u.username);
        this.changed();
      }, () => undefined).finally(() => this.nameLookups.delete(id));
    }
  }

  presenceOf(userId: string): PresenceView['status'] | null {
    return this.presence.get(userId) ?? null;
  }

  setPresence(p: PresenceView): void {
    this.presence.set(p.userId, p.status);
  }

  /** Reads a contact's presence (in the background). */
  lookupPresence(userId: string): void {
    this.client.api.presence(userId).then((p) => {
      this.presence.set(p.userId, p.status);
      this.changed();
    }, () => undefined); // not a contact (yet): presence is for contacts only
  }
}
