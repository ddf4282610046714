import type { StoredMessage } from '../store/MessageRepository';
import { idTimestamp } from './snowflake';

/** A message as clients see it (REST history, `message.new` frames). */
export interface MessageView {
  messageId: string;
  conversationId: string;
  senderId: string;
  senderDeviceId: string;
  type: 'text';
  content: string;
  createdAt: string;
}

export function toMessageView(m: StoredMessage): MessageView {
  return {
    messageId: m.messageId.toString(),
    conversationId: m.conversationId,
    senderId: m.senderId,
    senderDeviceId: m.senderDeviceId,
    type: m.kind,
    content: m.content,
    createdAt: new Date(idTimestamp(m.messageId)).toISOString(),
  };
}
