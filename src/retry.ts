/**
 * Runs `fn` until it resolves, at most `attempts` times, waiting `firstDelayMs × factor^n` after the
 * n-th failure; rejects with the last error. For riding out a Redis reconnect or a Cassandra blip.
 */
export async function withRetries<T>(fn: () => Promise<T>, attempts: number, firstDelayMs: number, factor = 2): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, firstDelayMs * factor ** (attempt - 1)));
    }
  }
}
