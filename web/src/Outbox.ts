import { storage, type StoredSend } from './storage';

/**
 * The own sends not acked yet, kept in localStorage: a reload sends them again with the same
 * clientMsgId, which the server answers with the first ack (nothing lost, nothing doubled).
 */
export class Outbox {
  private sends: StoredSend[];

  constructor(private readonly userId: string) {
    this.sends = storage.outbox(userId);
  }

  add(s: StoredSend): void {
    this.sends.push(s);
    this.save();
  }

  find(clientMsgId: string): StoredSend | undefined {
    return this.sends.find((x) => x.clientMsgId === clientMsgId);
  }

  in(conversationId: string): StoredSend[] {
    return this.sends.filter((s) => s.conversationId === conversationId);
  }

  /** The sends to transmit again at start: all but those that failed (the user retries those). */
  unsent(): StoredSend[] {
    return this.sends.filter((s) => !s.failed);
  }

  acked(clientMsgId: string): void {
    this.sends = this.sends.filter((x) => x.clientMsgId !== clientMsgId);
    this.save();
  }

  failed(s: StoredSend, why: string | undefined): void {
    if (why === undefined) delete s.failed;
    else s.failed = why;
    this.save();
  }

  private save(): void {
    storage.setOutbox(this.userId, this.sends);
  }
}
