import { ChatError } from '../errors';

/** Input checks shared by the REST and WebSocket edges. Each throws ChatError with a message naming the field. */

type Obj = Record<string, unknown>;

export function asObject(v: unknown, what = 'body', code: 'invalid_request' | 'invalid_frame' = 'invalid_request'): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ChatError(code, `${what} must be a JSON object`);
  return v as Obj;
}

interface StringRule {
  min?: number;
  max: number;
  pattern?: RegExp;
  patternText?: string;
  code?: 'invalid_request' | 'invalid_frame';
}

export function requireString(o: Obj, field: string, rule: StringRule): string {
  const v = o[field];
  const code = rule.code ?? 'invalid_request';
  if (typeof v !== 'string') throw new ChatError(code, `${field} is required and must be a string`);
  const min = rule.min ?? 1;
  if (v.length < min || v.length > rule.max) throw new ChatError(code, `${field} must be ${min}..${rule.max} characters`);
  if (rule.pattern && !rule.pattern.test(v)) throw new ChatError(code, `${field} ${rule.patternText ?? `must match ${rule.pattern}`}`);
  return v;
}

export function optionalString(o: Obj, field: string, rule: StringRule): string | null {
  return o[field] === undefined || o[field] === null ? null : requireString(o, field, rule);
}

export const USERNAME = { min: 3, max: 32, pattern: /^[A-Za-z0-9_.-]+$/, patternText: 'may contain only letters, digits, _ . -' };
export const PASSWORD = { min: 8, max: 128 };
export const DEVICE_NAME = { min: 1, max: 64 };
export const GROUP_NAME = { min: 1, max: 100 };
export const PLATFORM = { min: 1, max: 32, pattern: /^[A-Za-z0-9_.-]+$/, patternText: 'may contain only letters, digits, _ . -' };
export const PUSH_TOKEN = { min: 1, max: 4096 };
/** User, device and conversation ids: what we issue is shorter; anything longer is not ours. */
export const ID = { min: 1, max: 128, pattern: /^[A-Za-z0-9_.:-]+$/, patternText: 'is not a valid id' };
export const CLIENT_MSG_ID = { min: 1, max: 64 };

/** Parses `limit` from a query string: default when absent, 400 outside 1..max. */
export function parseLimit(v: unknown, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !/^\d{1,4}$/.test(v)) throw new ChatError('invalid_request', `limit must be an integer 1..${max}`);
  const n = Number(v);
  if (n < 1 || n > max) throw new ChatError('invalid_request', `limit must be an integer 1..${max}`);
  return n;
}
