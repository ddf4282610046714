/**
 * Paces outgoing frames under a rate, so a burst of sends is spread out instead of hitting the
 * server's per-connection frame limit (`ws.maxFramesPerSecond`, 200/s by default: past it frames
 * are refused, far past it the socket is closed with 1008, and a client resending everything after
 * each such close would never get through). A token bucket: `rate` per second, bursts of `rate`.
 */
export class FramePacer {
  private tokens: number;
  private refilledAt = Date.now();
  private readonly queue: string[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly rate: number, private readonly write: (frame: string) => void) {
    this.tokens = rate;
  }

  /** Writes the frame now if the budget allows, else after the frames queued before it. */
  send(frame: string): void {
    this.queue.push(frame);
    this.drain();
  }

  get queued(): number { return this.queue.length - this.head; }

  /** Drops what is queued (the socket closed; the outbox resends its sends on the next one). */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
    this.head = 0;
  }

  private drain(): void {
    if (this.timer !== null) return;
    const now = Date.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    while (this.head < this.queue.length && this.tokens >= 1) {
      this.tokens -= 1;
      this.write(this.queue[this.head++]);
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      return;
    }
    const wait = Math.ceil(((1 - this.tokens) / this.rate) * 1000);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, Math.max(wait, 1));
  }
}
