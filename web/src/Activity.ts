import { compareIds } from '@streamchat/client';

/** How long a typing event shows (the server passes one per member and conversation per second). */
const TYPING_SHOWN_MS = 3000;

/** What the other members are doing: who is typing where, and how far each has read. */
export class Activity {
  /** conversationId → userId → until (ms). */
  private readonly typing = new Map<string, Map<string, number>>();
  /** conversationId → userId → the highest messageId they read. */
  private readonly reads = new Map<string, Map<string, string>>();

  constructor(private readonly changed: () => void) {}

  typingStarted(conversationId: string, userId: string): void {
    const t = this.typing.get(conversationId) ?? new Map<string, number>();
    t.set(userId, Date.now() + TYPING_SHOWN_MS);
    this.typing.set(conversationId, t);
    setTimeout(() => this.changed(), TYPING_SHOWN_MS + 50);
  }

  /** Their message ends their typing. */
  typingEnded(conversationId: string, userId: string): void {
    this.typing.get(conversationId)?.delete(userId);
  }

  typingIn(conversationId: string): string[] {
    const now = Date.now();
    return [...(this.typing.get(conversationId) ?? new Map<string, number>()).entries()].filter(([, until]) => until > now).map(([u]) => u);
  }

  /** A read receipt: the watermark only moves forward. */
  read(conversationId: string, userId: string, messageId: string): void {
    const byUser = this.reads.get(conversationId) ?? new Map<string, string>();
    const prev = byUser.get(userId);
    if (prev === undefined || compareIds(messageId, prev) > 0) byUser.set(userId, messageId);
    this.reads.set(conversationId, byUser);
  }

  /** Whether any other member read this message (their watermark is at or past it). */
  readByOthers(conversationId: string, messageId: string): boolean {
    for (const id of this.reads.get(conversationId)?.values() ?? []) if (compareIds(id, messageId) >= 0) return true;
    return false;
  }
}
