import type { RedisClient } from '../store/redis/redis';
import type { Keys } from '../store/redis/keys';
import { StreamConsumer, type StreamEntry } from '../cluster/StreamConsumer';
import type { ConversationCache } from '../chat/ConversationCache';
import type { CursorStore, DeviceStore, UserStore } from '../chat/ports';
import type { Logger } from '../log';
import type { Metrics } from '../metrics/Metrics';
import type { PushProvider } from './providers';
import type { PushJob } from './PushQueue';

const GROUP = 'push';

export interface PushSettings {
  maxAttempts: number;
  retryBaseMs: number;
  throttleMs: number;
  reclaimIdleMs: number;
}

/**
 * The notification worker inside every node: a consumer of the shared push stream's group, so any
 * live node does the work, and jobs a dead node left pending are claimed (XAUTOCLAIM) by another
 * after `reclaimIdleMs`. Per job and device with a push token: skip a device that is connected or
 * already has the message (its sync cursor), throttle to one per device and conversation per
 * window, send with retries and exponential backoff, and after the last try write the failure to
 * the dead-letter stream.
 */
export class PushWorker {
  private consumer: StreamConsumer | null = null;
  private lastReclaim = 0;
  private readonly inFlight = new Map<string, Promise<void>>();
  static readonly MAX_IN_FLIGHT = 200;

  constructor(
    private readonly redis: RedisClient,
    private readonly blocking: RedisClient,
    private readonly keys: Keys,
    private readonly deps: {
      devices: DeviceStore;
      cursors: CursorStore;
      users: UserStore;
      conversations: ConversationCache;
      isConnected: (userId: string, deviceId: string) => Promise<boolean>;
    },
    private readonly provider: PushProvider,
    private readonly settings: PushSettings,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  async start(nodeId: number): Promise<void> {
    const consumer = new StreamConsumer(this.redis, this.blocking, {
      stream: this.keys.pushJobs(), group: GROUP, consumer: `node-${nodeId}`, count: 50, blockMs: 1000,
      backoff: { firstMs: 500, maxMs: 500 }, failureMessage: 'push stream read failed',
    }, this.log);
    this.consumer = consumer;
    await consumer.ensureGroup();
    consumer.start(() => this.round(consumer));
  }

  private async round(consumer: StreamConsumer): Promise<void> {
    if (Date.now() - this.lastReclaim > this.settings.reclaimIdleMs / 2) {
      this.lastReclaim = Date.now();
      // Jobs another (dead) node read and never finished.
      this.handle(consumer, await consumer.claimIdle(this.settings.reclaimIdleMs, 100));
    }
    if (this.inFlight.size >= PushWorker.MAX_IN_FLIGHT) {
      await new Promise((r) => setTimeout(r, 50));
      return;
    }
    this.handle(consumer, (await consumer.read('>')).entries);
  }

  private handle(consumer: StreamConsumer, entries: StreamEntry[]): void {
    for (const [entryId, fields] of entries) {
      // A job of ours that is still waiting (grace period, retries) looks idle to XAUTOCLAIM: skip it.
      if (this.inFlight.has(entryId)) continue;
      const p = this.process(fields)
        .catch((err) => {
          this.metrics.pushJobs.inc({ outcome: 'failed' }); // metrics
          this.log.error({ entryId, err }, 'push job failed');
        })
        .then(() => consumer.ack([entryId]))
        .then(() => { this.inFlight.delete(entryId); });
      this.inFlight.set(entryId, p);
    }
  }

  private async process(fields: string[] | null): Promise<void> {
    if (!fields) return; // trimmed away
    const job = JSON.parse(fields[1] ?? 'null') as PushJob | null;
    if (!job) return;
    const wait = job.notBefore - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const messageId = BigInt(job.messageId);
    const devices = (await this.deps.devices.list(job.userId)).filter((d) => d.pushToken !== null);
    if (devices.length === 0) return;
    const title = await this.title(job);
    await Promise.all(devices.map(async (d) => {
      const skipped = () => this.metrics.pushJobs.inc({ outcome: 'skipped' }); // metrics
      if (await this.deps.isConnected(job.userId, d.deviceId)) return skipped();
      const cursor = await this.deps.cursors.get(job.userId, d.deviceId);
      if (cursor && (messageId <= cursor.safe || cursor.seen.includes(messageId))) return skipped(); // already has it
      if (this.settings.throttleMs > 0) {
        const ok = await this.redis.set(this.keys.pushThrottle(d.deviceId, job.conversationId), job.messageId, 'PX', this.settings.throttleMs, 'NX');
        if (ok !== 'OK') return void this.metrics.pushJobs.inc({ outcome: 'throttled' }); // metrics
      }
      await this.deliver({
        deviceId: d.deviceId, pushToken: d.pushToken as string, title, body: job.preview,
        conversationId: job.conversationId, messageId: job.messageId,
      });
    }));
  }

  /** Sends with retries (backoff doubling from retryBaseMs); after the last failure, to the dead-letter stream. */
  private async deliver(n: Parameters<PushProvider['send']>[0]): Promise<void> {
    let lastError: unknown = null;
    for (let attempt = 1; attempt <= this.settings.maxAttempts; attempt++) {
      try {
        await this.provider.send(n);
        this.metrics.pushJobs.inc({ outcome: 'sent' }); // metrics
        return;
      } catch (err) {
        lastError = err;
        if (attempt < this.settings.maxAttempts) {
          this.metrics.pushJobs.inc({ outcome: 'retried' }); // metrics
          await new Promise((r) => setTimeout(r, this.settings.retryBaseMs * 2 ** (attempt - 1)));
        }
      }
    }
    this.metrics.pushJobs.inc({ outcome: 'dead' }); // metrics
    this.log.warn({ deviceId: n.deviceId, messageId: n.messageId, err: lastError }, 'push notification failed every attempt; dead-lettered');
    await this.redis.xadd(this.keys.pushDeadLetter(), 'MAXLEN', '~', 100_000, '*',
      'notification', JSON.stringify(n), 'attempts', String(this.settings.maxAttempts), 'error', String(lastError), 'provider', this.provider.name);
  }

  /** The group's name, or the sender's username for a direct message. */
  private async title(job: PushJob): Promise<string> {
    const c = await this.deps.conversations.get(job.conversationId);
    if (c?.type === 'group' && c.name) return c.name;
    return (await this.deps.users.findById(job.senderId))?.username ?? 'New message';
  }

  /** Stops taking jobs and waits for those in progress (bounded by their retries). */
  async stop(): Promise<void> {
    await this.consumer?.stop();
    await Promise.all([...this.inFlight.values()]);
  }
}
