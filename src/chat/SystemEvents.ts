import type { CommitPipeline } from './CommitPipeline';
import type { StoredMessage } from './model';
import type { Sequencer } from './Sequencer';
import { toMessageView, type MessageView, type SystemEvent } from './views';

/** A membership event's id and its place in the conversation's order (SystemEvents.reserveEvent). */
export interface SystemEventSlot {
  messageId: bigint;
  append(actorId: string, event: SystemEvent, audience: readonly string[]): Promise<MessageView>;
  /** Resolves with `step`, or gives the event's place up and rejects if `step` (the membership write before it) fails. */
  unlessFails<T>(step: Promise<T>): Promise<T>;
}

/** Membership events (group created, member added, removed, left), stored in the history and delivered like messages. */
export class SystemEvents {
  constructor(private readonly sequencer: Sequencer, private readonly pipeline: CommitPipeline) {}

  /**
   * Takes the id of a membership event and its place in the conversation's commit order (GroupService
   * takes it before it writes the member set). `append` stores the event and delivers it to `audience`
   * (the members after the change, plus a removed member for their own removal); `unlessFails` gives
   * the place up if the write before it fails.
   */
  async reserveEvent(conversationId: string): Promise<SystemEventSlot> {
    const placed = await this.sequencer.placeUnclaimed(conversationId);
    const { messageId, prevId, slot } = placed;
    return {
      messageId,
      append: async (actorId, event, audience) => {
        const stored: StoredMessage = {
          messageId, conversationId, senderId: actorId, senderDeviceId: '', kind: 'system', content: JSON.stringify(event), prevId,
        };
        await this.pipeline.commit(slot, stored, [...audience], null);
        return toMessageView(stored);
      },
      unlessFails: (step) => this.pipeline.unlessFails(placed, conversationId, null, step),
    };
  }
}
