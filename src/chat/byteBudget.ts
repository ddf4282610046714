import type { Page, StoredMessage } from './model';

/**
 * Rows read per query when a read is bounded by bytes: a query's rows are in memory at once, so
 * one read holds at most READ_CHUNK rows (each at most the content limit) past its byte budget.
 * The first query of a read takes FIRST_CHUNK rows; later ones as many as the rows seen so far
 * suggest still fit in the budget (small messages: few queries; large ones: little read past it).
 */
export const READ_CHUNK = 50;
export const FIRST_CHUNK = 2;

/** What a message weighs against a byte budget: its content's UTF-8 bytes. */
export function contentBytes(m: StoredMessage): number {
  return Buffer.byteLength(m.content);
}

/** The leading messages whose content fits in `maxBytes`, and always the first one (a page must progress). */
export function withinBytes(messages: StoredMessage[], maxBytes: number): StoredMessage[] {
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    bytes += contentBytes(messages[i]);
    if (bytes > maxBytes && i > 0) return messages.slice(0, i);
  }
  return messages;
}

/** Content bytes a read may still take; one budget can be shared by several reads of one request. */
export interface ByteBudget {
  left: number;
}

/**
 * Up to `limit` rows, read READ_CHUNK at a time from `start` on (each query resumes after the last
 * row of the previous one). The first chunk is always read; later ones only while `budget` has
 * bytes left (each chunk's content is taken from it). `more`: rows may lie beyond what was returned.
 */
export async function readInChunks<C>(start: C, limit: number, budget: ByteBudget,
  read: (from: C, n: number) => Promise<Page>, next: (last: StoredMessage) => C): Promise<Page> {
  const out: StoredMessage[] = [];
  let from = start;
  let bytes = 0;
  for (;;) {
    const fits = out.length === 0 ? FIRST_CHUNK : Math.ceil(budget.left / Math.max(1, bytes / out.length));
    const page = await read(from, Math.max(1, Math.min(READ_CHUNK, limit - out.length, fits)));
    out.push(...page.messages);
    for (const m of page.messages) {
      const b = contentBytes(m);
      bytes += b;
      budget.left -= b;
    }
    if (!page.more || page.messages.length === 0) return { messages: out, more: false };
    if (out.length >= limit || budget.left <= 0) return { messages: out, more: true };
    from = next(out[out.length - 1]);
  }
}
