import type { StoredMessage } from './model';
import { idTimestamp } from './snowflake';

export type SystemAction = 'group.created' | 'member.added' | 'member.removed' | 'member.left';

/** A membership event stored in the history like a message. */
export interface SystemEvent {
  action: SystemAction;
  /** The member the event is about (the creator for group.created). */
  userId: string;
}

/** A message as clients see it (REST history, sync, `message.new` frames). */
export interface MessageView {
  messageId: string;
  conversationId: string;
  senderId: string;
  senderDeviceId: string;
  type: 'text' | 'system';
  /** The text; for system events, the action name. */
  content: string;
  /** System events only. */
  system?: SystemEvent;
  createdAt: string;
}

export function toMessageView(m: StoredMessage): MessageView {
  const view: MessageView = {
    messageId: m.messageId.toString(),
    conversationId: m.conversationId,
    senderId: m.senderId,
    senderDeviceId: m.senderDeviceId,
    type: m.kind,
    content: m.content,
    createdAt: new Date(idTimestamp(m.messageId)).toISOString(),
  };
  if (m.kind === 'system') {
    const system = JSON.parse(m.content) as SystemEvent;
    view.system = system;
    view.content = system.action;
  }
  return view;
}

/** Whether this event is `userId` joining the conversation: for them the conversation starts there. */
export function isJoinOf(view: MessageView, userId: string): boolean {
  return view.system?.action === 'member.added' && view.system.userId === userId;
}
