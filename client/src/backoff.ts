/** Reconnect and resend delays. */
export interface BackoffOptions {
  /** The ceiling of the first delay. @default 250 */
  initialDelayMs?: number;
  /** The largest ceiling. @default 10000 */
  maxDelayMs?: number;
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, initial · 2^attempt)).
 * Full jitter spreads clients that lost the same node over the whole interval instead of sending
 * them back in waves (AWS Architecture Blog, "Exponential Backoff And Jitter").
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialDelayMs ?? 250;
  const max = opts.maxDelayMs ?? 10_000;
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
