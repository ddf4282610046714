import fc from 'fast-check';
import { DeviceCursor } from '../../src/chat/DeviceCursor';
import { IdHeap } from '../../src/chat/IdHeap';
import { minIdAt } from '../../src/chat/snowflake';

const T0 = Date.UTC(2026, 0, 1);
const LAG = 10_000;
/** An id made at T0 + ms (plus a small sequence to make several per ms). */
const id = (ms: number, seq = 0) => minIdAt(T0 + ms) + BigInt(seq);

function cursor(now: { t: number }, safe = id(0)): DeviceCursor {
  return new DeviceCursor({ safe, seen: [] }, LAG, () => T0 + now.t);
}

describe('DeviceCursor', () => {
  it('wants what is above safe and neither seen nor sent', () => {
    const now = { t: 60_000 };
    const c = cursor(now);
    expect(c.wants(id(-5))).toBe(false);
    expect(c.wants(id(5))).toBe(true);
    c.markSent(id(5));
    expect(c.wants(id(5))).toBe(false);
  });

  it('does not move safe while catching up', () => {
    const now = { t: 60_000 };
    const c = cursor(now);
    c.markSent(id(5));
    c.confirm(id(5));
    expect(c.safe).toBe(id(0));
    c.caughtUp();
    expect(c.safe).toBe(id(5));
  });

  it('never passes an id that was sent but not confirmed', () => {
    const now = { t: 60_000 };
    const c = cursor(now);
    c.caughtUp();
    c.markSent(id(100)); // a slow write from another node, delivered after...
    c.markSent(id(200));
    c.confirm(id(50)); // ...the device confirmed only up to 50 so far
    expect(c.safe).toBe(id(50));
    // The device confirms 200 while 100 arrived later and is still unconfirmed? No: cumulative means
    // everything sent <= 200 is confirmed, including 100.
    c.confirm(id(200));
    expect(c.safe).toBe(id(200));
    expect(c.wants(id(100))).toBe(false);
  });

  it('a confirmation covers only frames sent before the confirmed one', () => {
    const now = { t: 60_000 };
    const c = cursor(now);
    c.caughtUp();
    c.markSent(id(200)); // sent, then the client confirms 200...
    c.markSent(id(150)); // ...while a slow write's message (smaller id) is sent after it
    c.confirm(id(200));
    // 150 may still be on its way: 200 is confirmed (seen), but safe stays below 150.
    expect(c.wants(id(150))).toBe(false); // (sent on this connection)
    expect(c.snapshot().seen).toEqual([id(200)]);
    expect(c.safe).toBe(id(150) - 1n);
    c.confirm(id(150));
    expect(c.safe).toBe(id(200));
  });

  it('does not move safe during a resync (hold)', () => {
    const now = { t: 60_000 };
    const c = cursor(now);
    c.caughtUp();
    c.hold();
    c.markSent(id(10));
    c.confirm(id(10));
    expect(c.safe).toBe(id(0));
    c.caughtUp();
    expect(c.safe).toBe(id(10));
  });

  it('stays lagMs behind the present, keeping recent confirmations in seen', () => {
    const now = { t: 20_000 };
    const c = cursor(now);
    c.caughtUp();
    for (const ms of [5_000, 12_000, 19_000]) c.markSent(id(ms));
    c.confirm(id(19_000));
    expect(c.safe).toBe(minIdAt(T0 + 10_000)); // now - LAG
    const snap = c.snapshot();
    expect(snap.seen).toEqual([id(12_000), id(19_000)]);
    // A message written late with an id inside the lag window is still wanted.
    expect(c.wants(id(15_000))).toBe(true);
    expect(c.wants(id(12_000))).toBe(false);
    // Time passes: safe catches up to the confirmed point and seen empties.
    now.t = 40_000;
    c.tick();
    expect(c.safe).toBe(id(19_000));
    expect(c.snapshot().seen).toEqual([]);
  });

  it('round-trips through its stored form and skips seen ids on catch-up', () => {
    const now = { t: 20_000 };
    const c = cursor(now);
    c.caughtUp();
    c.markSent(id(15_000));
    c.confirm(id(15_000));
    const stored = c.takeSnapshot()!;
    expect(c.takeSnapshot()).toBeNull(); // nothing changed since
    const again = new DeviceCursor(stored, LAG, () => T0 + now.t);
    expect(again.wants(id(15_000))).toBe(false);
    expect(again.wants(id(16_000))).toBe(true);
    expect(again.snapshot().seen).toEqual([id(15_000)]);
  });

  it('a new device starts at the present', () => {
    const start = DeviceCursor.atPresent(T0 + 1234);
    expect(start.safe).toBe(minIdAt(T0 + 1234));
    expect(start.seen).toEqual([]);
  });

  it('matches the plain model (walk everything sent) on any sends and in-order confirmations', () => {
    // The model: what a confirmation covers, computed by walking every unconfirmed id (the old, O(n) way).
    fc.assert(fc.property(
      fc.array(fc.oneof(
        fc.record({ send: fc.integer({ min: 1, max: 400 }) }),
        fc.record({ confirm: fc.nat(), repeat: fc.boolean() }),
        fc.record({ wait: fc.integer({ min: 0, max: 3000 }) }),
      ), { maxLength: 300 }),
      (ops) => {
        const now = { t: 60_000 };
        const c = cursor(now);
        c.caughtUp();
        const sentOrder: bigint[] = [];
        const unconfirmed = new Map<bigint, number>();
        const confirmed: bigint[] = [];
        let nextConfirm = 0;
        for (const op of ops) {
          if ('send' in op) {
            const x = id(now.t - 5_000 + op.send);
            if (!c.wants(x)) continue;
            c.markSent(x);
            sentOrder.push(x);
            unconfirmed.set(x, sentOrder.length);
          } else if ('confirm' in op) {
            // A client confirms frames in the order it gets them (sometimes one it confirmed before).
            if (op.repeat && confirmed.length) {
              c.confirm(confirmed[op.confirm % confirmed.length]);
              continue;
            }
            if (nextConfirm >= sentOrder.length) continue;
            nextConfirm += 1 + (op.confirm % (sentOrder.length - nextConfirm));
            const upto = sentOrder[nextConfirm - 1];
            for (const [x, seq] of [...unconfirmed]) if (x <= upto && seq <= nextConfirm) unconfirmed.delete(x);
            confirmed.push(upto);
            c.confirm(upto);
          } else {
            now.t += op.wait;
            c.tick();
          }
          // safe never passes an unconfirmed id, and every id the model confirmed is had.
          const lowest = [...unconfirmed.keys()].reduce<bigint | null>((a, b) => (a === null || b < a ? b : a), null);
          if (lowest !== null) expect(c.safe).toBeLessThan(lowest);
          for (const x of sentOrder) expect(c.wants(x)).toBe(false);
          const seen = new Set(c.snapshot().seen);
          for (const x of sentOrder) {
            if (!unconfirmed.has(x) && x > c.safe) expect(seen.has(x)).toBe(true);
            if (unconfirmed.has(x)) expect(seen.has(x)).toBe(false);
          }
        }
      },
    ), { numRuns: 300 });
  });
});

describe('IdHeap', () => {
  it('pops in ascending order whatever the pushes', () => {
    fc.assert(fc.property(fc.array(fc.bigInt({ min: 0n, max: 1n << 62n })), (xs) => {
      const h = new IdHeap();
      for (const x of xs) h.push(x);
      const out: bigint[] = [];
      while (h.size) out.push(h.pop()!);
      expect(out).toEqual([...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }));
  });
});
