import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What became of one push notification (per device) or job. */
export type PushOutcome = 'sent' | 'retried' | 'dead' | 'throttled' | 'skipped' | 'failed';

/** Latency buckets (seconds) for in-node work: sub-millisecond to seconds. */
const FAST = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** End-to-end delivery crosses nodes and Redis: milliseconds to tens of seconds. */
const DELIVERY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * One node's Prometheus metrics, on a registry of its own (not prom-client's global one), so that
 * two nodes in one process (integration tests) never share counters. Built once in the composition
 * root and passed to whatever records into it. The names are part of the operator's contract
 * (docs/OPERATIONS.md "Logs and metrics", ops/grafana/chat.json): do not rename.
 */
export class Metrics {
  readonly registry = new Registry();
  private connectionCount: () => number = () => 0;
  private streamBacklog: () => Promise<number> = async () => 0;

  readonly connections: Gauge;
  readonly messagesSent: Counter;
  readonly messagesDelivered: Counter;
  readonly ackSeconds: Histogram;
  readonly deliverySeconds: Histogram;
  readonly streamPending: Gauge;
  readonly resyncs: Counter;
  readonly cassandraSeconds: Histogram;
  readonly redisErrors: Counter;
  readonly errors: Counter<'code'>;
  readonly wsCloses: Counter<'code'>;
  readonly httpSeconds: Histogram<'method' | 'route' | 'status'>;
  readonly pushJobs: Counter<'outcome'>;
  readonly clockOffset: Gauge;

  constructor() {
    const registers = [this.registry];
    // Read at scrape time: the socket map and this node's stream are the truth, not a copy kept in step.
    const self = this;
    this.connections = new Gauge({
      name: 'chat_connections', help: 'Open WebSocket connections on this node.', registers,
      collect() { this.set(self.connectionCount()); },
    });
    this.streamPending = new Gauge({
      name: 'chat_stream_pending', help: 'Entries in this node\'s delivery stream not yet handled (read and deleted).', registers,
      async collect() { this.set(await self.streamBacklog()); },
    });
    this.messagesSent = new Counter({ name: 'chat_messages_sent_total', help: 'Messages accepted (stored and acked; resends of a clientMsgId not counted).', registers });
    this.messagesDelivered = new Counter({ name: 'chat_messages_delivered_total', help: 'message.new frames written to recipient sockets (live and catch-up).', registers });
    this.ackSeconds = new Histogram({ name: 'chat_message_ack_seconds', help: 'message.send frame received to its message.ack written.', buckets: FAST, registers });
    this.deliverySeconds = new Histogram({
      name: 'chat_message_delivery_seconds',
      help: 'Message id timestamp (when the id was given) to its live frame written to a recipient socket, on the delivering node.',
      buckets: DELIVERY, registers,
    });
    this.resyncs = new Counter({ name: 'chat_resyncs_total', help: 'Device sessions read again from their cursor (a node died, Redis lost entries or routes).', registers });
    this.cassandraSeconds = new Histogram({ name: 'chat_cassandra_request_seconds', help: 'Cassandra requests (driver RequestTracker), successful or not.', buckets: FAST, registers });
    this.redisErrors = new Counter({ name: 'chat_redis_errors_total', help: 'Errors reported by this node\'s Redis connections.', registers });
    this.errors = new Counter({ name: 'chat_errors_total', help: 'Errors sent to clients (WebSocket error frames, REST and upgrade error responses), by code.', labelNames: ['code'], registers });
    this.wsCloses = new Counter({ name: 'chat_ws_close_total', help: 'WebSocket closes, by close code (ours or the peer\'s).', labelNames: ['code'], registers });
    this.httpSeconds = new Histogram({
      name: 'chat_http_request_seconds', help: 'REST requests, by method, express route pattern (or "unmatched") and status.',
      labelNames: ['method', 'route', 'status'], buckets: FAST, registers,
    });
    this.pushJobs = new Counter({ name: 'chat_push_jobs_total', help: 'Push notifications by outcome (per device: sent, retried, dead, throttled, skipped; per job: failed).', labelNames: ['outcome'], registers });
    this.clockOffset = new Gauge({ name: 'chat_clock_offset_seconds', help: "Redis's clock minus this node's, at the last lease refresh (node.maxClockSkewMs bounds it).", registers });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Where chat_connections and chat_stream_pending are read from at scrape time. */
  observe(sources: { connections: () => number; streamPending: () => Promise<number> }): void {
    this.connectionCount = sources.connections;
    this.streamBacklog = sources.streamPending;
  }

  /** A message.new frame was written to a socket; a live one (`idAtMs` = its id's timestamp) is also timed. */
  delivered(idAtMs: number | null): void {
    this.messagesDelivered.inc();
    if (idAtMs !== null) this.deliverySeconds.observe(Math.max(0, Date.now() - idAtMs) / 1000);
  }

  errorSent(code: string): void {
    this.errors.inc({ code });
  }

  /** The Prometheus text exposition of every metric above. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
