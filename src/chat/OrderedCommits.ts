/** A place in one key's commit order, taken when the message's id is taken; filled (or cancelled) later. */
export interface CommitSlot {
  /** Routes once `work` and every earlier slot of the key are done; resolves with what `route` resolves with. */
  commit<T>(work: Promise<unknown>, route: () => Promise<T>): Promise<T>;
  /** Gives the place up (the send was refused or turned out to be a resend): later slots go on. */
  cancel(): void;
}

interface Job {
  work: Promise<unknown>;
  route: () => Promise<unknown>;
}

/**
 * The ordered commit pipeline of one node. Per key (a conversation), a slot is reserved at the
 * moment a message takes its id, so slot order is id order. The slots' work (the Cassandra writes)
 * overlaps, but their `route` steps run one after another in slot order: a slot's `route` is called
 * once its own work and every earlier slot of the key are settled and the earlier `route` calls have
 * returned. `route` only has to *start* the routing synchronously (Cluster.deliver enqueues into the
 * node's ordered outbox), so a busy conversation is not held to one Redis round trip per message,
 * and the routing order is the id order.
 *
 * A slot whose work fails, or that is cancelled, is skipped; the ones after it go on. Every reserved
 * slot must be committed or cancelled, or its key stops.
 */
export class OrderedCommits {
  /** Per key: settles once the newest slot's route step has been called (or skipped). */
  private readonly tails = new Map<string, Promise<void>>();
  /** Route steps called and not yet finished (drain waits for them). */
  private readonly routing = new Set<Promise<unknown>>();

  reserve(key: string): CommitSlot {
    let fill!: (job: Job | null) => void;
    const filled = new Promise<Job | null>((resolve) => { fill = resolve; });
    const prev = this.tails.get(key) ?? Promise.resolve();
    const started = prev.then(() => filled).then(async (job) => {
      if (!job) return null;
      await job.work;
      const routed = job.route();
      this.routing.add(routed);
      void routed.then(() => this.routing.delete(routed), () => this.routing.delete(routed));
      return { routed };
    });
    const tail = started.then(() => undefined, () => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    let used = false;
    const cancel = (): void => {
      if (used) return;
      used = true;
      fill(null);
    };
    return {
      commit: <T>(work: Promise<unknown>, route: () => Promise<T>): Promise<T> => {
        if (used) throw new Error('commit slot used twice');
        used = true;
        work.catch(() => undefined); // handled in its turn; never an unhandled rejection
        fill({ work, route });
        return started.then((s) => (s as { routed: Promise<T> }).routed);
      },
      cancel,
    };
  }

  /** Reserves and commits at once (the id was taken just now). */
  submit<T>(key: string, work: Promise<unknown>, route: () => Promise<T>): Promise<T> {
    return this.reserve(key).commit(work, route);
  }

  /** Keys with a slot whose route step has not been called yet. */
  get size(): number {
    return this.tails.size;
  }

  /** Waits for every slot reserved so far, and any reserved meanwhile, to be routed. */
  async drain(): Promise<void> {
    while (this.tails.size > 0 || this.routing.size > 0) {
      await Promise.all([...this.tails.values(), ...[...this.routing].map((p) => p.catch(() => undefined))]);
    }
  }
}
