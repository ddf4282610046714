/**
 * The wire types the client needs: WebSocket frames both ways and REST bodies, under the names the
 * SDK uses. Each is the type of a zod schema in src/protocol, the one the server validates and
 * documents (/api/openapi.json, /api/asyncapi.json) with, so the client cannot drift from it.
 *
 * Only types come from there (erased from the JS), plus the close-code table: the SDK does not
 * load zod at run time.
 */
import { CloseCodes as ServerCloseCodes } from '../../src/protocol/closeCodes';
import type { ProtocolErrorCode } from '../../src/protocol/errors';
import type { ClientFrameOf, ClientFrameType, ServerFrameOf, ServerFrameType } from '../../src/protocol/frames';
import type { ErrorBody as ErrorBodyWire, TokenResponse } from '../../src/protocol/rest';
import type { MessageViewWire, PublicUser, UserRef } from '../../src/protocol/views';

/** Stable error codes, in REST bodies and error frames. */
export type ErrorCode = ProtocolErrorCode;

/** Every REST error: `{"error":{"code","message"}}`. */
export type ErrorBody = ErrorBodyWire;

// ---- messages -------------------------------------------------------------------------------

export type { SystemAction, SystemEvent } from '../../src/protocol/views';

/** A message as clients see it (REST history, sync, `message.new` frames). */
export type MessageView = MessageViewWire;

// ---- client → server frames -----------------------------------------------------------------

/** Exactly one of `to` (a direct message) and `conversationId` (the server refuses both or neither). */
export type MessageSendFrame = ClientFrameOf<'message.send'>;
export type MessageReceivedFrame = ClientFrameOf<'message.received'>;
export type MessageReadFrame = ClientFrameOf<'message.read'>;
export type TypingSendFrame = ClientFrameOf<'typing'>;
export type HeartbeatFrame = ClientFrameOf<'heartbeat'>;

export type ClientFrame = ClientFrameOf<ClientFrameType>;

// ---- server → client frames -----------------------------------------------------------------

/** `duplicate: true`: a resend of a clientMsgId already stored (the same messageId, nothing new stored). */
export type MessageAckFrame = ServerFrameOf<'message.ack'>;
export type MessageNewFrame = ServerFrameOf<'message.new'>;
export type SyncCompleteFrame = ServerFrameOf<'sync.complete'>;
export type PresenceFrame = ServerFrameOf<'presence'>;
export type TypingFrame = ServerFrameOf<'typing'>;
export type ReceiptReadFrame = ServerFrameOf<'receipt.read'>;
/** `clientMsgId` is present when the error answers a `message.send`. */
export type ErrorFrame = ServerFrameOf<'error'>;

export type ServerFrame = ServerFrameOf<ServerFrameType>;

type CloseCodeNumbers = { readonly [K in keyof typeof ServerCloseCodes]: (typeof ServerCloseCodes)[K]['code'] };

/** Close codes the server uses, by name (src/protocol/closeCodes.ts has what each means). */
export const CloseCodes = Object.freeze(Object.fromEntries(
  Object.entries(ServerCloseCodes).map(([name, c]) => [name, c.code]),
)) as CloseCodeNumbers;

// ---- REST bodies ----------------------------------------------------------------------------

export type SignupResponse = UserRef;
export type { LoginResponse } from '../../src/protocol/rest';
export type PasswordChangeResponse = TokenResponse;

export type UserView = PublicUser;
export type { UserRef };

export type { AddMemberInput, DeviceInput, GroupInput, LoginInput, PasswordInput, SignupInput } from '../../src/protocol/rest';
export type { ConversationSummary, DeviceView, GroupView } from '../../src/protocol/views';

// HistoryPage (`GET /api/conversations/:id/messages`): `nextBefore` with `before` paging, `nextAfter` with `after`.
export type { HistoryPage, SyncPage } from '../../src/protocol/rest';
// The list answers, each a list under one key (the RestApi methods return the list).
export type {
  BlocksResponse, ConversationsResponse, DevicesResponse, NodesResponse, PresenceResponse,
} from '../../src/protocol/rest';

export type { BlockView, NodeRecommendation, NodeView, PresenceStatus, PresenceView } from '../../src/protocol/views';
