import { z } from 'zod';
import { errorBody, type ProtocolErrorCode } from './errors';
import { DEVICE_NAME, GROUP_NAME, ID, id, limit, messageId, PASSWORD, PLATFORM, PUSH_TOKEN, str, timestamp, USERNAME } from './fields';
import { blockView, conversationSummary, deviceView, groupView, messageView, nodeRecommendation, nodeView, presenceView, publicUser, userRef } from './views';

/** Every REST route: its inputs (checked with these schemas at the edge), its answer, and the error codes it can return. */

const body = <S extends z.ZodRawShape>(shape: S) => z.object(shape, { error: 'body must be a JSON object' });
const params = <S extends z.ZodRawShape>(shape: S) => z.object(shape);
const query = <S extends z.ZodRawShape>(shape: S) => z.object(shape);

// --- request bodies
export const signupBody = body({ username: str('username', { ...USERNAME, description: '3-32 of [A-Za-z0-9_.-], unique case-insensitively' }), password: str('password', PASSWORD) });
/** Any name and password up to a bound: a malformed name gets the same answer as an unknown one. */
export const loginBody = body({ username: str('username', { max: 128 }), password: str('password', { max: 1024 }) });
export const passwordBody = body({ currentPassword: str('currentPassword', { max: 1024 }), newPassword: str('newPassword', PASSWORD) });
export const deviceBody = body({
  name: str('name', DEVICE_NAME),
  platform: str('platform', PLATFORM).nullish(),
  pushToken: str('pushToken', PUSH_TOKEN).nullish().describe('for push notifications; never returned'),
});
/** A group member's messages name its index ("0 is not a valid id"), as they always have. */
const atIndex = (rest: string) => (iss: { path?: PropertyKey[] }) => `${String(iss.path?.at(-1))} ${rest}`;
const memberId = z.string({ error: atIndex('is required and must be a string') })
  .min(ID.min, { error: atIndex(`must be ${ID.min}..${ID.max} characters`) })
  .max(ID.max, { error: atIndex(`must be ${ID.min}..${ID.max} characters`) })
  .regex(ID.pattern, { error: atIndex(ID.patternText) });
/** `members` may list at most twice the group limit (the rest is refused as group_full later). */
export function groupBody(maxMembers: number) {
  const members = 'members must be an array of user ids';
  return body({
    name: str('name', GROUP_NAME),
    members: z.array(memberId, { error: members }).max(maxMembers * 2, { error: members }).nullish()
      .describe('user ids besides the creator'),
  });
}
export const addMemberBody = body({ userId: id('userId') });

// --- path parameters and queries
export const conversationParams = params({ conversationId: id('conversationId') });
export const memberParams = params({ conversationId: id('conversationId'), userId: id('userId') });
export const userParams = params({ userId: id('userId') });
export const deviceParams = params({ deviceId: id('deviceId') });
export const historyQuery = query({
  before: z.string({ error: 'before must be a message id' }).optional().describe('a message id: the page newest first, before it'),
  after: z.string({ error: 'after must be a message id' }).optional().describe('a message id: the page oldest first, after it (0 = from the start)'),
  limit: limit(100, 50),
});
export const syncQuery = query({
  deviceId: id('deviceId', 'your device: its stored cursor is the default start, and its own sends are left out'),
  limit: limit(500, 100),
  after: messageId('after must be a message id', 'start after this message id instead of the stored cursor').optional(),
});
export const usernameQuery = query({ username: str('username', USERNAME) });
export const MAX_PRESENCE_BATCH = 100;
export const presenceQuery = query({
  userIds: str('userIds', { max: MAX_PRESENCE_BATCH * 130, description: `comma-separated user ids, 1..${MAX_PRESENCE_BATCH}` }),
});
/** Each listed presence id: `<id> is not a user id`. */
export const presenceUserId = z.string().max(ID.max).regex(ID.pattern);

// --- answers
export const loginResponse = z.object({ token: z.string(), userId: z.string(), expiresAt: timestamp });
export const tokenResponse = z.object({ token: z.string(), expiresAt: timestamp });
export const historyPage = z.object({
  messages: z.array(messageView),
  nextBefore: z.string().nullable().optional().describe('paging back: null at the start of the conversation'),
  nextAfter: z.string().nullable().optional().describe('paging forward: null at the present'),
});
export const syncPage = z.object({ messages: z.array(messageView), nextAfter: z.string(), hasMore: z.boolean() });
export const blocksResponse = z.object({ blocks: z.array(blockView) });
export const presenceResponse = z.object({ presence: z.array(presenceView) });
export const nodesResponse = z.object({ nodes: z.array(nodeView) });
export const devicesResponse = z.object({ devices: z.array(deviceView) });
export const conversationsResponse = z.object({ conversations: z.array(conversationSummary) });
export const healthResponse = z.object({ status: z.literal('ok'), nodeId: z.number().int(), connections: z.number().int() });
export const readyResponse = z.object({ status: z.literal('ready'), nodeId: z.number().int() });

export interface RouteDoc {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI form: /api/groups/{conversationId}. */
  path: string;
  summary: string;
  /** Needs `Authorization: Bearer <token>` (and counts against the per-user rate limit). */
  auth: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodObject;
  status: number;
  response?: z.ZodType;
  /** Codes this route itself can answer; 401/429 of auth and 503/500 are added for every route that can get them. */
  errors: ProtocolErrorCode[];
}

const none: ProtocolErrorCode[] = [];
const GROUP_BODY_EXAMPLE = groupBody(100);

/** The REST API. A test checks this table against the express router, both ways. */
export const ROUTES: readonly RouteDoc[] = [
  { method: 'get', path: '/health', summary: 'liveness of this node', auth: false, status: 200, response: healthResponse, errors: none },
  { method: 'get', path: '/ready', summary: 'readiness: 503 while Redis or Cassandra does not answer', auth: false, status: 200, response: readyResponse, errors: none },
  { method: 'get', path: '/api/openapi.json', summary: 'this document', auth: false, status: 200, errors: none },
  { method: 'get', path: '/api/asyncapi.json', summary: 'the WebSocket protocol (AsyncAPI 3.0)', auth: false, status: 200, errors: none },
  { method: 'post', path: '/api/auth/signup', summary: 'create a user', auth: false, body: signupBody, status: 201, response: userRef, errors: ['invalid_request', 'username_taken', 'rate_limited'] },
  { method: 'post', path: '/api/auth/login', summary: 'get a bearer token', auth: false, body: loginBody, status: 200, response: loginResponse, errors: ['invalid_request', 'invalid_credentials', 'rate_limited'] },
  { method: 'post', path: '/api/auth/logout', summary: 'revoke this token (its sockets close with 4001)', auth: true, status: 204, errors: none },
  { method: 'post', path: '/api/auth/logout-all', summary: "revoke every token of the user (every socket closes with 4001)", auth: true, status: 204, errors: none },
  { method: 'post', path: '/api/auth/password', summary: 'change the password: every older token is revoked, the returned one is the only valid one', auth: true, body: passwordBody, status: 200, response: tokenResponse, errors: ['invalid_request', 'invalid_credentials'] },
  { method: 'get', path: '/api/users/me', summary: 'the caller', auth: true, status: 200, response: publicUser, errors: ['not_found'] },
  { method: 'get', path: '/api/users', summary: 'find a user by name', auth: true, query: usernameQuery, status: 200, response: userRef, errors: ['invalid_request', 'not_found'] },
  { method: 'get', path: '/api/users/{userId}', summary: "a user's name", auth: true, params: userParams, status: 200, response: userRef, errors: ['invalid_request', 'not_found'] },
  { method: 'post', path: '/api/users/{userId}/block', summary: 'block a user (idempotent)', auth: true, params: userParams, status: 204, errors: ['invalid_request', 'not_found'] },
  { method: 'delete', path: '/api/users/{userId}/block', summary: 'unblock a user (idempotent)', auth: true, params: userParams, status: 204, errors: ['invalid_request', 'not_found'] },
  { method: 'get', path: '/api/users/{userId}/presence', summary: "a contact's presence", auth: true, params: userParams, status: 200, response: presenceView, errors: ['invalid_request', 'forbidden', 'blocked'] },
  { method: 'get', path: '/api/blocks', summary: 'whom the caller blocked', auth: true, status: 200, response: blocksResponse, errors: none },
  { method: 'get', path: '/api/presence', summary: `presence of up to ${MAX_PRESENCE_BATCH} contacts`, auth: true, query: presenceQuery, status: 200, response: presenceResponse, errors: ['invalid_request', 'forbidden', 'blocked'] },
  { method: 'get', path: '/api/nodes', summary: 'the live nodes', auth: true, status: 200, response: nodesResponse, errors: none },
  { method: 'get', path: '/api/nodes/recommend', summary: 'the least-loaded live node to connect to', auth: true, status: 200, response: nodeRecommendation, errors: none },
  { method: 'post', path: '/api/devices', summary: 'register a device', auth: true, body: deviceBody, status: 201, response: deviceView, errors: ['invalid_request', 'limit_reached'] },
  { method: 'get', path: '/api/devices', summary: "the caller's devices", auth: true, status: 200, response: devicesResponse, errors: none },
  { method: 'delete', path: '/api/devices/{deviceId}', summary: 'delete a device (its sockets close with 4003)', auth: true, params: deviceParams, status: 204, errors: ['invalid_request', 'not_found'] },
  { method: 'get', path: '/api/conversations', summary: "the caller's conversations, most recent first", auth: true, status: 200, response: conversationsResponse, errors: none },
  { method: 'get', path: '/api/conversations/{conversationId}/messages', summary: 'a page of history (before: newest first; after: oldest first)', auth: true, params: conversationParams, query: historyQuery, status: 200, response: historyPage, errors: ['invalid_request', 'not_found', 'rate_limited'] },
  { method: 'post', path: '/api/groups', summary: 'create a group (the caller is owner and member)', auth: true, body: GROUP_BODY_EXAMPLE, status: 201, response: groupView, errors: ['invalid_request', 'unknown_user', 'group_full', 'blocked', 'limit_reached'] },
  { method: 'get', path: '/api/groups/{conversationId}', summary: 'a group (members only)', auth: true, params: conversationParams, status: 200, response: groupView, errors: ['invalid_request', 'forbidden', 'not_found'] },
  { method: 'post', path: '/api/groups/{conversationId}/members', summary: 'add a member (owner only)', auth: true, params: conversationParams, body: addMemberBody, status: 200, response: groupView, errors: ['invalid_request', 'forbidden', 'not_found', 'unknown_user', 'group_full', 'blocked', 'limit_reached'] },
  { method: 'delete', path: '/api/groups/{conversationId}/members/{userId}', summary: 'remove a member (the owner anyone, a member itself)', auth: true, params: memberParams, status: 204, errors: ['invalid_request', 'forbidden', 'not_found'] },
  { method: 'get', path: '/api/sync', summary: 'what the WebSocket catch-up sends, page by page', auth: true, query: syncQuery, status: 200, response: syncPage, errors: ['invalid_request', 'forbidden', 'rate_limited'] },
];

export type SignupBody = z.infer<typeof signupBody>;
export type LoginBody = z.infer<typeof loginBody>;
export type LoginResponse = z.infer<typeof loginResponse>;
export type DeviceBody = z.infer<typeof deviceBody>;
export type GroupBody = z.infer<ReturnType<typeof groupBody>>;
export type HistoryPage = z.infer<typeof historyPage>;
export type SyncPage = z.infer<typeof syncPage>;
export type ErrorBody = z.infer<typeof errorBody>;
export type TokenResponse = z.infer<typeof tokenResponse>;
export type BlocksResponse = z.infer<typeof blocksResponse>;
export type PresenceResponse = z.infer<typeof presenceResponse>;
export type NodesResponse = z.infer<typeof nodesResponse>;
export type DevicesResponse = z.infer<typeof devicesResponse>;
export type ConversationsResponse = z.infer<typeof conversationsResponse>;
/** Request bodies as a client writes them (the schemas' input: before defaults and transforms). */
export type SignupInput = z.input<typeof signupBody>;
export type LoginInput = z.input<typeof loginBody>;
export type PasswordInput = z.input<typeof passwordBody>;
export type DeviceInput = z.input<typeof deviceBody>;
export type GroupInput = z.input<ReturnType<typeof groupBody>>;
export type AddMemberInput = z.input<typeof addMemberBody>;
