import { z } from 'zod';

/**
 * Field builders. Each carries the exact error message the edges have always sent for it (the
 * message names the field), so one translator (src/chat/validation.ts) turns the first issue into a
 * ChatError without knowing any field.
 */

export interface StringRule {
  min?: number;
  max: number;
  pattern?: RegExp;
  /** Completes "<field> ..." when the pattern does not match. */
  patternText?: string;
  description?: string;
}

const NAME_CHARS = /^[A-Za-z0-9_.-]+$/;
export const USERNAME: StringRule = { min: 3, max: 32, pattern: NAME_CHARS, patternText: 'may contain only letters, digits, _ . -' };
export const PASSWORD: StringRule = { min: 8, max: 128 };
export const DEVICE_NAME: StringRule = { min: 1, max: 64 };
export const GROUP_NAME: StringRule = { min: 1, max: 100 };
export const PLATFORM: StringRule = { min: 1, max: 32, pattern: NAME_CHARS, patternText: 'may contain only letters, digits, _ . -' };
export const PUSH_TOKEN: StringRule = { min: 1, max: 4096 };
/** User, device and conversation ids: what we issue is shorter; anything longer is not ours. */
export const ID: Required<Omit<StringRule, 'description'>> = { min: 1, max: 128, pattern: /^[A-Za-z0-9_.:-]+$/, patternText: 'is not a valid id' };
export const CLIENT_MSG_ID: StringRule = { min: 1, max: 64 };

/** A string field: "<field> is required and must be a string", "<field> must be <min>..<max> characters", "<field> <patternText>". */
export function str(field: string, rule: StringRule) {
  const min = rule.min ?? 1;
  const length = `${field} must be ${min}..${rule.max} characters`;
  let s = z.string({ error: `${field} is required and must be a string` })
    .min(min, { error: length })
    .max(rule.max, { error: length });
  if (rule.pattern) s = s.regex(rule.pattern, { error: `${field} ${rule.patternText ?? `must match ${rule.pattern}`}` });
  return rule.description ? s.describe(rule.description) : s;
}

/** An id (user, device, conversation) in a body, a query or a path. */
export function id(field: string, description?: string) {
  return str(field, { ...ID, description });
}

/** A decimal string of at most 19 digits: the form of every message id. */
const DECIMAL_ID = /^\d{1,19}$/;
const MAX_ID = '9223372036854775807';

/** A 64-bit message id as a decimal string (JSON numbers lose precision past 2^53); `message` for anything else. */
export function messageId(message: string, description = 'a message id: a 64-bit Snowflake id as a decimal string') {
  return z.string({ error: message })
    .regex(DECIMAL_ID, { error: message })
    .refine((s) => s.length < 19 || s <= MAX_ID, { error: message })
    .describe(description);
}

/** A page size in a query string: "limit must be an integer 1..<max>"; `dflt` when absent. */
export function limit(max: number, dflt: number) {
  const message = `limit must be an integer 1..${max}`;
  return z.string({ error: message })
    .regex(/^\d{1,4}$/, { error: message })
    .refine((s) => Number(s) >= 1 && Number(s) <= max, { error: message })
    .optional()
    .transform((s) => (s === undefined ? dflt : Number(s)))
    .describe(`an integer 1..${max}, default ${dflt}`);
}

/** When a request or frame is no JSON object at all. */
export function objectMessage(what: 'body' | 'frame'): string {
  return `${what} must be a JSON object`;
}

/** An ISO 8601 timestamp as the server writes it (Date.toISOString). */
export const timestamp = z.string().describe('ISO 8601 timestamp, UTC');
