/** Listener signatures by event name. */
export type EventMap = { [event: string]: (...args: never[]) => void };

/**
 * A small typed event emitter (no Node `events` import, so it runs in browsers). A listener that
 * throws does not stop the others or the client's own bookkeeping; its error is rethrown
 * asynchronously, where the host reports it as uncaught.
 */
export class Emitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<E[keyof E]>>();

  on<K extends keyof E>(event: K, listener: E[K]): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  off<K extends keyof E>(event: K, listener: E[K]): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  /** Calls `listener` once, at the next `event`. */
  once<K extends keyof E>(event: K, listener: E[K]): this {
    const wrapper = ((...args: Parameters<E[K]>) => {
      this.off(event, wrapper);
      (listener as (...a: Parameters<E[K]>) => void)(...args);
    }) as unknown as E[K];
    return this.on(event, wrapper);
  }

  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (...a: Parameters<E[K]>) => void)(...args);
      } catch (err) {
        setTimeout(() => { throw err; }, 0);
      }
    }
  }

  protected listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
