'use strict';
/**
 * Load-generator accounting: what was sent, acked, delivered (per recipient device), lost and
 * duplicated, and send-to-delivery latencies. Pure (no I/O) so its arithmetic is unit-tested
 * (test/unit/benchAccounting.test.ts).
 */
class Accounting {
  constructor() {
    /** clientMsgId → { t0, expected: Set<deviceKey>, ackedId, error } */
    this.sends = new Map();
    /** clientMsgId → Map<deviceKey, count> */
    this.deliveries = new Map();
    this.latencies = [];
    this.unexpected = 0;
    /** Error frames by code. */
    this.errors = {};
    /** First send and last first-copy delivery (ms): the span the deliveries really took. */
    this.firstSentAt = null;
    this.lastDeliveredAt = null;
  }

  /** A message was sent at t0 (ms, one clock for the whole process) and should reach these devices. */
  sent(clientMsgId, t0, expectedDevices) {
    this.sends.set(clientMsgId, { t0, expected: new Set(expectedDevices), ackedId: null, error: null });
    if (this.firstSentAt === null || t0 < this.firstSentAt) this.firstSentAt = t0;
  }

  acked(clientMsgId, messageId) {
    const s = this.sends.get(clientMsgId);
    if (s) s.ackedId = messageId;
  }

  failed(clientMsgId, code) {
    const s = this.sends.get(clientMsgId);
    if (!s) return;
    s.error = code;
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }

  /** A device got the message at t (ms). Only the first copy per device counts toward latency. */
  delivered(clientMsgId, deviceKey, t) {
    const s = this.sends.get(clientMsgId);
    if (!s || !s.expected.has(deviceKey)) {
      this.unexpected++;
      return;
    }
    let perDevice = this.deliveries.get(clientMsgId);
    if (!perDevice) this.deliveries.set(clientMsgId, (perDevice = new Map()));
    const n = (perDevice.get(deviceKey) ?? 0) + 1;
    perDevice.set(deviceKey, n);
    if (n === 1) {
      this.latencies.push(t - s.t0);
      if (this.lastDeliveredAt === null || t > this.lastDeliveredAt) this.lastDeliveredAt = t;
    }
  }

  /**
   * Deliveries per second over `windowMs`, or over the time they really took when that was longer
   * (a system that falls behind delivers the backlog after the window: it must not count as keeping up).
   */
  deliveryRate(windowMs) {
    const { delivered, spanMs } = this.summary();
    return Math.round(delivered / (Math.max(windowMs, spanMs) / 1000));
  }

  /** Totals. `lost` counts (message, device) pairs never delivered for messages that were acked. */
  summary() {
    let sent = 0, acked = 0, failed = 0, expected = 0, delivered = 0, lost = 0, duplicated = 0, unacked = 0;
    for (const [id, s] of this.sends) {
      sent++;
      if (s.ackedId !== null) acked++;
      else if (s.error !== null) failed++;
      else unacked++;
      const perDevice = this.deliveries.get(id) ?? new Map();
      for (const device of s.expected) {
        const n = perDevice.get(device) ?? 0;
        if (s.ackedId !== null || n > 0) expected++;
        if (n > 0) delivered++;
        else if (s.ackedId !== null) lost++;
        if (n > 1) duplicated += n - 1;
      }
    }
    const spanMs = this.firstSentAt === null || this.lastDeliveredAt === null ? 0 : this.lastDeliveredAt - this.firstSentAt;
    return {
      sent, acked, failed, unacked, expectedDeliveries: expected, delivered, lost, duplicated, unexpected: this.unexpected,
      errors: { ...this.errors }, spanMs, latency: percentiles(this.latencies),
    };
  }

  /** Message ids acked, for the persistence check. */
  ackedIds() {
    return [...this.sends.values()].filter((s) => s.ackedId !== null).map((s) => s.ackedId);
  }
}

/** p50, p99, max (ms, 2 decimals) of a list of numbers; nulls when empty. */
function percentiles(xs) {
  if (xs.length === 0) return { count: 0, p50: null, p99: null, max: null };
  const s = Float64Array.from(xs).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  const r = (v) => Math.round(v * 100) / 100;
  return { count: s.length, p50: r(at(0.5)), p99: r(at(0.99)), max: r(s[s.length - 1]) };
}

/** The median of numbers (the middle run of an odd count). */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.floor((s.length - 1) / 2)];
}

module.exports = { Accounting, percentiles, median };
