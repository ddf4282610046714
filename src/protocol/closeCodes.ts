/**
 * Close codes this server uses. 1xxx are the standard ones; 4xxx mirror HTTP statuses where one fits.
 * Clients should reconnect after 1001, 1011, 1013 and 4008; not after 4001 or 4003 without new credentials.
 */
export const CloseCodes = {
  /** The node is shutting down; reconnect (to any node). */
  goingAway: { code: 1001, reason: 'server shutting down' },
  /** Repeated abuse: far over the frame rate limit, or too many invalid frames. */
  policyViolation: { code: 1008, reason: 'policy violation' },
  /** A frame larger than the content limit plus envelope (sent by the ws library itself). */
  messageTooBig: { code: 1009, reason: 'message too big' },
  /** Unexpected server failure. */
  internalError: { code: 1011, reason: 'internal error' },
  /** The server could not read what the device missed (storage unavailable); reconnect after a pause. */
  tryAgainLater: { code: 1013, reason: 'try again later' },
  /** The token was revoked (logout) or expired. */
  unauthorized: { code: 4001, reason: 'unauthorized' },
  /** The device was deleted. */
  deviceRemoved: { code: 4003, reason: 'device removed' },
  /** The socket could not keep up: more than ws.maxBufferedBytes waited to be sent. */
  slowConsumer: { code: 4008, reason: 'slow consumer' },
  /** The same device connected again to this node; the older connection is closed. */
  replaced: { code: 4009, reason: 'replaced by a newer connection of this device' },
} as const;

export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];
