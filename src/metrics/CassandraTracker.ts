import { tracker } from 'cassandra-driver';
import type { Histogram } from 'prom-client';

/** The driver checks `instanceof RequestTracker`: a class at runtime, though its typings declare only an interface. */
const RequestTrackerBase = (tracker as unknown as { RequestTracker: new () => tracker.RequestTracker }).RequestTracker;

/** cassandra-driver's hook for every request it completes: times each into chat_cassandra_request_seconds. */
export class CassandraTracker extends RequestTrackerBase {
  constructor(private readonly seconds: Histogram) {
    super();
  }

  override onSuccess(...args: Parameters<tracker.RequestTracker['onSuccess']>): void {
    this.seconds.observe(toSeconds(args[6]));
  }

  override onError(...args: Parameters<tracker.RequestTracker['onError']>): void {
    this.seconds.observe(toSeconds(args[6]));
  }
}

/** The driver reports latency as process.hrtime's [seconds, nanoseconds]. */
function toSeconds(latency: number[]): number {
  return latency[0] + latency[1] / 1e9;
}
