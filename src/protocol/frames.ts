import { z } from 'zod';
import { errorCode } from './errors';
import { CLIENT_MSG_ID, ID, id, messageId, str } from './fields';
import { messageView, presenceView } from './views';

/**
 * Every WebSocket frame, both ways: one JSON object per text frame, discriminated by `type`.
 * Client frames keep unknown keys out of what they return (they are ignored, as always).
 */

const deviceRequired = 'deviceId query parameter is required (register one with POST /api/devices)';
/** The query of the upgrade request `GET /ws?...` (the token is checked first, by the auth service). */
export const upgradeQuery = z.object({
  token: z.string().optional().describe('the bearer token (or send it as Authorization: Bearer)'),
  deviceId: z.string({ error: deviceRequired }).min(ID.min, { error: deviceRequired }).max(ID.max, { error: deviceRequired })
    .regex(ID.pattern, { error: deviceRequired }).describe('a device of the user (POST /api/devices)'),
  after: messageId('after must be a message id',
    'replaces the stored cursor for this connection: pass it only if the device has every message up to it').optional(),
});

const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S, description: string) =>
  z.object({ type: z.literal(type), ...shape }, { error: 'frame must be a JSON object' }).describe(description);

const readId = messageId('messageId must be a message id (a decimal string)');

/** The order `message.send` is checked in (first issue wins): the frame-level "give exactly one of" ('') right after clientMsgId. */
export const SEND_CHECK_ORDER = ['type', 'clientMsgId', '', 'to', 'conversationId', 'content'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The client frames. `message.send` depends on chat.maxContentChars, so they are built once per
 * node from its limits (never per frame).
 */
export function clientFrameSchemas(limits: { maxContentChars: number }) {
  const max = limits.maxContentChars;
  const send = frame('message.send', {
    clientMsgId: str('clientMsgId', { ...CLIENT_MSG_ID, description: 'makes the send idempotent: a resend returns the same ack with duplicate:true' }),
    to: id('to', 'a user id: send a direct message (exactly one of to and conversationId)').optional(),
    conversationId: id('conversationId', 'a conversation the sender is a member of (exactly one of to and conversationId)').optional(),
    content: z.string({ error: 'content is required and must be a string' })
      .refine((s) => s.trim().length > 0, { error: 'content must not be empty' })
      .refine((s) => s.length <= max, { error: `content must be at most ${max} characters`, params: { code: 'content_too_long' } })
      .meta({ maxLength: max, description: `the text: not blank, at most ${max} UTF-16 units (content_too_long past it)` }),
    resent: z.boolean({ error: 'resent must be a boolean' }).optional()
      .describe('true when this clientMsgId may have been sent before (a resend after a reconnect or an error, or an id the app kept): '
        + 'the server then also checks its durable record, so a send is never stored twice even if Redis lost its recent writes'),
  }, 'send a message; answered with message.ack (or an error frame with the same clientMsgId), in the order of the sends')
    // Runs whatever the fields hold (zod skips an object's refinements after a field's type error unless told).
    .refine((f) => (f.to !== undefined) !== (f.conversationId !== undefined),
      { error: 'give exactly one of "to" or "conversationId"', when: (p) => isObject(p.value) });
  return {
    'message.send': send,
    'message.received': frame('message.received', { messageId: readId },
      'confirm every message up to messageId (cumulative); the server sends nothing confirmed again'),
    'message.read': frame('message.read', { conversationId: id('conversationId'), messageId: readId },
      'move the read watermark (forward only); the other members get receipt.read'),
    heartbeat: frame('heartbeat', {}, 'optional keep-alive (answering the server pings is enough)'),
    typing: frame('typing', { conversationId: id('conversationId') }, 'the sender is typing; goes to the other members (at most once per presence.typingIntervalMs)'),
  } as const;
}

export type ClientFrameSchemas = ReturnType<typeof clientFrameSchemas>;
export type ClientFrameType = keyof ClientFrameSchemas;
export type ClientFrame = { [K in ClientFrameType]: z.infer<ClientFrameSchemas[K]> }[ClientFrameType];
export type MessageSendFrame = z.infer<ClientFrameSchemas['message.send']>;
/** A client frame of a type (or a union of types) as a client writes it (its schema's input; no frame transforms, so also what the server reads). */
export type ClientFrameOf<K extends ClientFrameType> = { [T in K]: z.input<ClientFrameSchemas[T]> }[K];

/** "unknown frame type ..." / "frame needs a string type": the `unknown_type` message for a frame of no known type. */
export function unknownTypeMessage(type: unknown): string {
  return typeof type === 'string' ? `unknown frame type ${JSON.stringify(type.slice(0, 64))}` : 'frame needs a string "type"';
}

const out = <T extends string, S extends z.ZodRawShape>(type: T, shape: S, description: string) =>
  z.object({ type: z.literal(type), ...shape }).describe(description);

/** The server frames. */
export const serverFrameSchemas = {
  'message.ack': out('message.ack', {
    clientMsgId: z.string(),
    messageId: z.string(),
    conversationId: z.string(),
    createdAt: z.string(),
    duplicate: z.literal(true).optional().describe('present when this clientMsgId was already stored: nothing new was stored or delivered'),
  }, 'the send is stored in Cassandra and routed'),
  'message.new': out('message.new', { message: messageView }, 'a message for this device (catch-up first, oldest first, then live)'),
  'sync.complete': out('sync.complete', {
    count: z.number().int().describe('messages sent by the catch-up'),
    cursor: z.string().describe('the message id the device is synced up to'),
  }, 'the catch-up is over; what follows is live'),
  presence: out('presence', presenceView.shape, "a contact's status changed"),
  typing: out('typing', { conversationId: z.string(), userId: z.string() }, 'another member is typing'),
  'receipt.read': out('receipt.read', { conversationId: z.string(), userId: z.string().describe('the reader'), messageId: z.string() },
    "another member's read watermark moved"),
  error: out('error', {
    code: errorCode,
    message: z.string(),
    retryable: z.boolean().describe('whether the same frame may succeed if sent again later'),
    clientMsgId: z.string().optional().describe('the clientMsgId of the frame this answers, if it had one'),
  }, 'a frame was refused; the connection stays usable'),
} as const;

export type ServerFrameType = keyof typeof serverFrameSchemas;
export type ServerFrame = { [K in ServerFrameType]: z.infer<(typeof serverFrameSchemas)[K]> }[ServerFrameType];
export type MessageAckFrame = z.infer<(typeof serverFrameSchemas)['message.ack']>;
export type ErrorFrame = z.infer<(typeof serverFrameSchemas)['error']>;
/** A server frame of a type (or a union of types). */
export type ServerFrameOf<K extends ServerFrameType> = { [T in K]: z.infer<(typeof serverFrameSchemas)[T]> }[K];
