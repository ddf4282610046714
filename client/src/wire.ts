/**
 * The wire types the client needs: WebSocket frames both ways and REST bodies, as README.md
 * ("REST API", "WebSocket API") describes them.
 *
 * replaced at merge by type-only imports from src/protocol (the zod schemas are the one source;
 * this file then re-exports their inferred types under the same names).
 */

/** Stable error codes, in REST bodies and error frames. */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_frame'
  | 'unknown_type'
  | 'content_too_long'
  | 'unauthorized'
  | 'invalid_credentials'
  | 'forbidden'
  | 'not_found'
  | 'unknown_user'
  | 'username_taken'
  | 'group_full'
  | 'blocked'
  | 'limit_reached'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

/** Every REST error: `{"error":{"code","message"}}`. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

// ---- messages -------------------------------------------------------------------------------

export type SystemAction = 'group.created' | 'member.added' | 'member.removed' | 'member.left';

export interface SystemEvent {
  action: SystemAction;
  /** The member the event is about (the creator for group.created). */
  userId: string;
}

/** A message as clients see it (REST history, sync, `message.new` frames). */
export interface MessageView {
  /** 64-bit Snowflake id as a decimal string; time-sortable. */
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

// ---- client → server frames -----------------------------------------------------------------

export type MessageSendFrame =
  | { type: 'message.send'; clientMsgId: string; to: string; content: string }
  | { type: 'message.send'; clientMsgId: string; conversationId: string; content: string };

export interface MessageReceivedFrame { type: 'message.received'; messageId: string }
export interface MessageReadFrame { type: 'message.read'; conversationId: string; messageId: string }
export interface TypingSendFrame { type: 'typing'; conversationId: string }
export interface HeartbeatFrame { type: 'heartbeat' }

export type ClientFrame = MessageSendFrame | MessageReceivedFrame | MessageReadFrame | TypingSendFrame | HeartbeatFrame;

// ---- server → client frames -----------------------------------------------------------------

export interface MessageAckFrame {
  type: 'message.ack';
  clientMsgId: string;
  messageId: string;
  conversationId: string;
  createdAt: string;
  /** A resend of a clientMsgId already stored: the same messageId, nothing new stored. */
  duplicate?: true;
}

export interface MessageNewFrame { type: 'message.new'; message: MessageView }

export interface SyncCompleteFrame { type: 'sync.complete'; count: number; cursor: string }

export interface PresenceFrame {
  type: 'presence';
  userId: string;
  status: PresenceStatus;
  lastActiveAt: string | null;
}

export interface TypingFrame { type: 'typing'; conversationId: string; userId: string }

export interface ReceiptReadFrame { type: 'receipt.read'; conversationId: string; userId: string; messageId: string }

export interface ErrorFrame {
  type: 'error';
  code: ErrorCode;
  message: string;
  retryable: boolean;
  /** Present when the error answers a `message.send`. */
  clientMsgId?: string;
}

export type ServerFrame =
  | MessageAckFrame
  | MessageNewFrame
  | SyncCompleteFrame
  | PresenceFrame
  | TypingFrame
  | ReceiptReadFrame
  | ErrorFrame;

/** Close codes the server uses (src/ws/closeCodes.ts). */
export const CloseCodes = {
  goingAway: 1001,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
  unauthorized: 4001,
  deviceRemoved: 4003,
  slowConsumer: 4008,
  replaced: 4009,
} as const;

// ---- REST bodies ----------------------------------------------------------------------------

export interface SignupResponse { userId: string; username: string }
export interface LoginResponse { token: string; userId: string; expiresAt: string }
export interface PasswordChangeResponse { token: string; expiresAt: string }

export interface UserView { userId: string; username: string; createdAt: string }
export interface UserRef { userId: string; username: string }

export interface DeviceInput { name: string; platform?: string; pushToken?: string }
export interface DeviceView { deviceId: string; name: string; platform: string; hasPushToken: boolean; createdAt: string }

export interface ConversationSummary {
  conversationId: string;
  type: 'direct' | 'group';
  name: string | null;
  members: string[];
  lastMessage: MessageView | null;
  unreadCount: number;
}

/** `GET /api/conversations/:id/messages`: `nextBefore` with `before` paging, `nextAfter` with `after`. */
export interface HistoryPage {
  messages: MessageView[];
  nextBefore?: string | null;
  nextAfter?: string | null;
}

export interface GroupView {
  conversationId: string;
  type: 'group';
  name: string;
  ownerId: string;
  members: string[];
  createdAt: string;
}

export type PresenceStatus = 'online' | 'offline';
export interface PresenceView { userId: string; status: PresenceStatus; lastActiveAt: string | null }

export interface BlockView { userId: string; username: string | null; blockedAt: string }

export interface NodeView { nodeId: number; wsUrl: string; connections: number; startedAt: string }
export interface NodeRecommendation { nodeId: number; wsUrl: string }

export interface SyncPage { messages: MessageView[]; nextAfter: string; hasMore: boolean }
