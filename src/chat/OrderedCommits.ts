/**
 * The ordered commit pipeline of one node. Per key (a conversation), `submit`s overlap their work
 * (the Cassandra writes) but their `route` steps run one after another in submission order: a
 * submission's `route` is called once its own work and every earlier submission of the key are
 * settled and the earlier `route` calls have returned. `route` only has to *start* the routing
 * synchronously (Cluster.deliver enqueues into the node's ordered outbox), so a busy conversation is
 * not held to one Redis round trip per message, and the routing order is the submission order.
 *
 * A submission whose work fails is skipped (its route is never called); the ones after it go on.
 */
export class OrderedCommits {
  /** Per key: settles once the newest submission's route step has been called (or skipped). */
  private readonly tails = new Map<string, Promise<void>>();
  /** Route steps called and not yet finished (drain waits for them). */
  private readonly routing = new Set<Promise<unknown>>();

  /** Resolves with what this submission's `route` resolves with; rejects with the work's error if it failed. */
  submit<T>(key: string, work: Promise<unknown>, route: () => Promise<T>): Promise<T> {
    work.catch(() => undefined); // handled below, in its turn; never an unhandled rejection
    const prev = this.tails.get(key) ?? Promise.resolve();
    const started = prev.then(() => work).then(() => {
      const routed = route();
      this.routing.add(routed);
      void routed.then(() => this.routing.delete(routed), () => this.routing.delete(routed));
      return { routed };
    });
    const tail = started.then(() => undefined, () => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return started.then((s) => s.routed);
  }

  /** Keys with a submission whose route step has not been called yet. */
  get size(): number {
    return this.tails.size;
  }

  /** Waits for every submission made so far, and any made meanwhile, to be routed. */
  async drain(): Promise<void> {
    while (this.tails.size > 0 || this.routing.size > 0) {
      await Promise.all([...this.tails.values(), ...[...this.routing].map((p) => p.catch(() => undefined))]);
    }
  }
}
