import type { MessageView } from '../chat/views';

/** Messages nodes send each other through their streams; a discriminated union on `type`. */
export type ClusterMessage =
  | {
    type: 'deliver';
    from: number;
    /** The event to hand to sockets, as clients see it. */
    message: MessageView;
    /** Users of the conversation with a device on the receiving node. */
    userIds: string[];
    /** The device that sent it gets an ack instead. */
    excludeDeviceId: string;
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
    reason: 'device_removed' | 'logged_out';
  };

export function encode(m: ClusterMessage): string {
  return JSON.stringify(m);
}

/** Parses a stream entry; null for anything malformed (logged and acknowledged, never retried forever). */
export function decode(s: string): ClusterMessage | null {
  try {
    const m = JSON.parse(s) as ClusterMessage;
    return m && (m.type === 'deliver' || m.type === 'event' || m.type === 'kick') && typeof m.from === 'number' ? m : null;
  } catch {
    return null;
  }
}
