import { z } from 'zod';
import { timestamp } from './fields';

/** What clients see of the server's objects: in REST answers and in server frames. */

export const systemEvent = z.object({
  action: z.enum(['group.created', 'member.added', 'member.removed', 'member.left']),
  /** The member the event is about (the creator for group.created). */
  userId: z.string(),
}).describe('a membership event stored in the history like a message; the actor is senderId');

/** Keys in the order the server writes them (toMessageView). */
export const messageView = z.object({
  messageId: z.string().describe('64-bit Snowflake id as a decimal string; time-sortable, unique across the cluster'),
  conversationId: z.string(),
  senderId: z.string(),
  senderDeviceId: z.string(),
  type: z.enum(['text', 'system']),
  content: z.string().describe('the text; for system events, the action name'),
  createdAt: timestamp,
  system: systemEvent.optional().describe('system events only'),
}).describe('a message as clients see it');

export const publicUser = z.object({ userId: z.string(), username: z.string(), createdAt: timestamp });
export const userRef = z.object({ userId: z.string(), username: z.string() });

export const deviceView = z.object({
  deviceId: z.string(),
  name: z.string(),
  platform: z.string(),
  hasPushToken: z.boolean(),
  createdAt: timestamp,
});

export const conversationSummary = z.object({
  conversationId: z.string(),
  type: z.enum(['direct', 'group']),
  name: z.string().nullable(),
  members: z.array(z.string()),
  lastMessage: messageView.nullable(),
  unreadCount: z.number().int().describe('messages after your read watermark, up to 1000'),
});

export const groupView = z.object({
  conversationId: z.string(),
  type: z.literal('group'),
  name: z.string(),
  ownerId: z.string(),
  members: z.array(z.string()),
  createdAt: timestamp,
});

export const blockView = z.object({ userId: z.string(), username: z.string().nullable(), blockedAt: timestamp });

export const presenceView = z.object({
  userId: z.string(),
  status: z.enum(['online', 'offline']),
  lastActiveAt: timestamp.nullable().describe('now for an online user; when they went offline otherwise; null if never seen'),
});

export const nodeView = z.object({ nodeId: z.number().int(), wsUrl: z.string(), connections: z.number().int(), startedAt: timestamp });
/** `GET /api/nodes/recommend`: where to connect. */
export const nodeRecommendation = nodeView.pick({ nodeId: true, wsUrl: true });

// The types clients get (the client SDK re-exports them; the server builds these objects).
export type MessageViewWire = z.infer<typeof messageView>;
export type SystemEvent = z.infer<typeof systemEvent>;
export type SystemAction = SystemEvent['action'];
export type PublicUser = z.infer<typeof publicUser>;
export type UserRef = z.infer<typeof userRef>;
export type DeviceView = z.infer<typeof deviceView>;
export type ConversationSummary = z.infer<typeof conversationSummary>;
export type GroupView = z.infer<typeof groupView>;
export type BlockView = z.infer<typeof blockView>;
export type PresenceView = z.infer<typeof presenceView>;
export type PresenceStatus = PresenceView['status'];
export type NodeView = z.infer<typeof nodeView>;
export type NodeRecommendation = z.infer<typeof nodeRecommendation>;
