/**
 * @streamchat/client: a TypeScript client for streamchat (Node 20 and browsers).
 *
 *   const client = new ChatClient({ baseUrl: 'http://127.0.0.1:8080', WebSocket: require('ws') });
 *   await client.login('alice', 'password1');
 *   const { deviceId } = await client.api.registerDevice({ name: 'laptop' });
 *   client.on('message', (m) => console.log(m.content));
 *   await client.connect(deviceId);
 *   await client.send({ to: bobUserId, content: 'hi' });
 */
export { ChatClient, ConnectionStopped } from './ChatClient';
export type { ChatClientOptions, ChatEvents, ConnectionState, ReceiptEvent, StopReason, SyncEvent, TypingEvent } from './ChatClient';
export { ChatApiError } from './ChatApiError';
export type { ClientErrorCode } from './ChatApiError';
export { RestApi } from './RestApi';
export type { FetchLike, HistoryQuery } from './RestApi';
export type { Outgoing, SendAck } from './Outbox';
export type { BackoffOptions } from './backoff';
export { backoffDelay } from './backoff';
export { compareIds } from './Inbox';
export type { WebSocketConstructor, WebSocketLike } from './socket';
export * from './wire';
