import type { z } from 'zod';
import { ChatError, type ErrorCode } from '../errors';

/**
 * The one translator from a failed schema check (src/protocol) to a ChatError. Every field carries
 * its own message; the first issue wins. Issues come in the schema's key order, a container's own
 * check (an array too long) before its elements; `order` ranks by top-level key ('' = the object
 * itself) where a frame-level rule must come between fields (message.send).
 */
export function parse<S extends z.ZodType>(
  schema: S,
  value: unknown,
  code: 'invalid_request' | 'invalid_frame' = 'invalid_request',
  order?: readonly string[],
): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw toValidationError(r.error.issues, code, order);
}

export function toValidationError(issues: readonly z.core.$ZodIssue[], code: ErrorCode, order?: readonly string[]): ChatError {
  const head = (i: z.core.$ZodIssue) => (i.path.length === 0 ? '' : String(i.path[0]));
  const heads = issues.map(head);
  const key = (i: z.core.$ZodIssue, n: number) => [rank(heads[n], order), heads.indexOf(heads[n]), i.path.length, n];
  const keyed = issues.map((i, n) => ({ i, k: key(i, n) }));
  keyed.sort((a, b) => a.k.reduce((d, v, j) => d || v - b.k[j], 0));
  const first = keyed[0].i;
  // A check may name its own code (content_too_long); every other issue is the edge's malformed-input code.
  const own = first.code === 'custom' ? (first.params as { code?: ErrorCode } | undefined)?.code : undefined;
  return new ChatError(own ?? code, first.message);
}

function rank(head: string, order: readonly string[] | undefined): number {
  if (!order) return 0;
  const i = order.indexOf(head);
  return i === -1 ? order.length : i;
}
