import type { MessageView } from '../chat/views';

/** Messages nodes send each other through their streams; a discriminated union on `type`. */
/** One message for the devices of `userIds` on the receiving node. */
export interface NodeDelivery {
  /** The event to hand to sockets, as clients see it; absent for a void. */
  message?: MessageView;
  /** A placed id that will never be a message (the devices need not wait for it); absent for a message. */
  void?: { conversationId: string; messageId: string };
  /** The id placed just before this one in its conversation; absent at a sequence's start. */
  prev?: string;
  /** Users of the conversation with a device on the receiving node. */
  userIds: string[];
  /** The device that sent it gets an ack instead. */
  excludeDeviceId: string;
}

export type ClusterMessage =
  | {
    type: 'deliver';
    from: number;
    /** Every delivery for this node from one event-loop turn of the sender (one entry, not one per message). */
    items: NodeDelivery[];
  }
  | {
    type: 'event';
    from: number;
    /** A frame for clients (receipts), sent as is to every local device of `userIds`. */
    frame: object;
    userIds: string[];
  }
  | {
    type: 'kick';
    from: number;
    userId: string;
    /** Close this device's connections; absent = any device. */
    deviceId?: string;
    /** Close only connections opened with this token (logout). */
    tokenHash?: string;
    /** Close only connections whose token is of an older generation (password change: the new token stays). */
    generationBelow?: number;
    reason: 'device_removed' | 'logged_out';
  };

export function encode(m: ClusterMessage): string {
  return JSON.stringify(m);
}

/** Parses a stream entry; null for anything malformed (logged and acknowledged, never retried forever). */
export function decode(s: string): ClusterMessage | null {
  try {
    const m = JSON.parse(s) as ClusterMessage;
    if (!m || typeof m.from !== 'number') return null;
    if (m.type === 'deliver') {
      // An entry from a node of the previous version (one delivery per entry): read it as a batch of one.
      const single = m as unknown as NodeDelivery & { items?: NodeDelivery[] };
      if (!Array.isArray(single.items)) {
        if (!single.message || !Array.isArray(single.userIds)) return null;
        return { type: 'deliver', from: m.from, items: [{ message: single.message, userIds: single.userIds, excludeDeviceId: single.excludeDeviceId }] };
      }
      return m;
    }
    return m.type === 'event' || m.type === 'kick' ? m : null;
  } catch {
    return null;
  }
}
