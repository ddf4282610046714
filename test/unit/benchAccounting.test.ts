// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Accounting, percentiles, median } = require('../../bench/lib/accounting');

describe('bench load-generator accounting', () => {
  it('counts sent, acked, delivered, lost and duplicated per recipient device', () => {
    const a = new Accounting();
    a.sent('m1', 0, ['b1', 'b2']);
    a.sent('m2', 10, ['b1']);
    a.sent('m3', 20, ['b1']); // never acked, never delivered: failed, not lost
    a.sent('m4', 30, ['b1']); // acked, never delivered: lost
    a.acked('m1', '101');
    a.acked('m2', '102');
    a.failed('m3', 'unavailable');
    a.acked('m4', '104');
    a.delivered('m1', 'b1', 5);
    a.delivered('m1', 'b2', 7);
    a.delivered('m1', 'b2', 9); // duplicate
    a.delivered('m2', 'b1', 13);
    a.delivered('m2', 'b1', 14); // duplicate
    a.delivered('m2', 'b3', 15); // not a recipient
    a.delivered('zz', 'b1', 15); // never sent
    const s = a.summary();
    expect(s).toEqual({
      sent: 4, acked: 3, failed: 1, unacked: 0, expectedDeliveries: 4, delivered: 3, lost: 1, duplicated: 2, unexpected: 2,
      errors: { unavailable: 1 }, spanMs: 13, latency: { count: 3, p50: 5, p99: 7, max: 7 },
    });
    expect(a.ackedIds().sort()).toEqual(['101', '102', '104']);
  });

  it('counts a delivery of an unacked message (ack lost in flight) as delivered, not lost', () => {
    const a = new Accounting();
    a.sent('m1', 0, ['b1']);
    a.delivered('m1', 'b1', 3);
    expect(a.summary()).toEqual(expect.objectContaining({ acked: 0, unacked: 1, delivered: 1, lost: 0, expectedDeliveries: 1 }));
  });

  it('measures delivery rate over the time deliveries really took when the system fell behind', () => {
    const a = new Accounting();
    for (let i = 0; i < 100; i++) a.sent(`m${i}`, 1000 + i * 10, ['b1']); // 100 messages sent over 1 s
    for (let i = 0; i < 100; i++) a.delivered(`m${i}`, 'b1', 1000 + i * 30); // delivered over 3 s
    expect(a.summary().spanMs).toBe(2970);
    expect(a.deliveryRate(1000)).toBe(Math.round(100 / 2.97));
    expect(a.deliveryRate(5000)).toBe(20); // a window longer than the span: the window counts
  });

  it('computes percentiles and medians', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(xs)).toEqual({ count: 100, p50: 50, p99: 99, max: 100 });
    expect(percentiles([])).toEqual({ count: 0, p50: null, p99: null, max: null });
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
  });
});
