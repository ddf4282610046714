import { z } from 'zod';
import { messageView } from './views';

/**
 * Messages nodes put on each other's Redis streams: a discriminated union on `type`, each with the
 * sender's node id. `decode` (src/cluster/messages.ts) checks every entry against these.
 */

/** One message for the devices of `userIds` on the receiving node. */
export const delivery = z.object({
  /** The event to hand to sockets, as clients see it; absent for a void. */
  message: messageView.optional(),
  /** A placed id that will never be a message (the devices need not wait for it); absent for a message. */
  void: z.object({ conversationId: z.string(), messageId: z.string() }).optional(),
  /** The id placed just before this one in its conversation; absent at a sequence's start. */
  prev: z.string().optional(),
  /** Users of the conversation with a device on the receiving node. */
  userIds: z.array(z.string()),
  /** The device that sent it gets an ack instead. */
  excludeDeviceId: z.string(),
});

const from = z.number();

export const deliverMessage = z.object({
  type: z.literal('deliver'),
  from,
  /** Every delivery for this node from one event-loop turn of the sender (one entry, not one per message). */
  items: z.array(delivery),
});

/** A `deliver` entry of the previous version: one delivery per entry, read as a batch of one. */
export const legacyDeliverMessage = z.object({
  type: z.literal('deliver'),
  from,
  message: messageView,
  userIds: z.array(z.string()),
  excludeDeviceId: z.string(),
});

export const eventMessage = z.object({
  type: z.literal('event'),
  from,
  /** A frame for clients (receipts, presence, typing), sent as is to every local device of `userIds`. */
  frame: z.custom<object>((v) => typeof v === 'object' && v !== null && !Array.isArray(v)),
  userIds: z.array(z.string()),
});

export const kickMessage = z.object({
  type: z.literal('kick'),
  from,
  userId: z.string(),
  /** Close this device's connections; absent = any device. */
  deviceId: z.string().optional(),
  /** Close only connections opened with this token (logout). */
  tokenHash: z.string().optional(),
  /** Close only connections whose token is of an older generation (password change: the new token stays). */
  generationBelow: z.number().optional(),
  reason: z.enum(['device_removed', 'logged_out']),
});

export const clusterMessage = z.discriminatedUnion('type', [deliverMessage, eventMessage, kickMessage]);

export type NodeDelivery = z.infer<typeof delivery>;
export type ClusterMessage = z.infer<typeof clusterMessage>;
