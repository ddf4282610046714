import { z } from 'zod';

/**
 * Every error code a client can get, in a REST error body or an error frame, with what it means.
 * src/errors.ts declares the same union for the domain; a type check in src/http/errors.ts keeps
 * the two equal (here it would pull domain code into the client SDK's build).
 */
export const ERROR_CODES = {
  invalid_request: 'a malformed REST request: missing or mistyped field, bad query (the message names the field)',
  invalid_frame: 'a malformed WebSocket frame: not JSON, binary, not an object, missing or mistyped field, too large or too deep',
  unknown_type: 'a frame whose "type" is missing or not one the server knows',
  content_too_long: 'message content over chat.maxContentChars',
  unauthorized: 'no, a bad, an expired or a revoked bearer token',
  invalid_credentials: 'wrong username or password (the same for both)',
  forbidden: 'the caller may not do this (not a member, not the owner, not its device, origin not allowed)',
  not_found: 'no such route, user, device or conversation (or one the caller may not know of)',
  unknown_user: 'a user id names no user',
  username_taken: 'the username is taken (case-insensitive)',
  group_full: 'the group is at chat.maxGroupMembers',
  blocked: 'the other user blocked the caller',
  limit_reached: 'a per-user cap: devices, groups per hour, active conversations',
  rate_limited: 'over a rate limit; retry after Retry-After (REST) or slow down (WebSocket)',
  unavailable: 'storage or Redis failed, or the node is shutting down; retry later',
  internal: 'a bug in the server',
} as const;

export type ProtocolErrorCode = keyof typeof ERROR_CODES;

export const errorCode = z.enum(Object.keys(ERROR_CODES) as [ProtocolErrorCode, ...ProtocolErrorCode[]]);

/** `{"error":{"code","message"}}`: every REST error. */
export const errorBody = z.object({
  error: z.object({ code: errorCode, message: z.string() }),
});
