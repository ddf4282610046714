import fc from 'fast-check';
import { checkParsed, checkRaw, MAX_DEPTH, TokenBucket } from '../../src/ws/frameGuard';

const rules = { maxControlFrameBytes: 1024 };
const raw = (s: string) => checkRaw(Buffer.from(s), rules);

describe('frameGuard.checkRaw', () => {
  it('passes ordinary frames, small and large sends', () => {
    expect(raw('{"type":"heartbeat"}')).toBeNull();
    expect(raw(JSON.stringify({ type: 'message.send', clientMsgId: 'a', to: 'b', content: 'x'.repeat(100_000) }))).toBeNull();
    expect(raw(JSON.stringify({ type: 'message.send', clientMsgId: 'a', to: 'b', content: '"[{]}\\'.repeat(10_000) }))).toBeNull();
    expect(raw(JSON.stringify({ type: 'message.send', clientMsgId: 'a', to: 'b', content: 'é🙂'.repeat(10_000) }))).toBeNull();
  });

  it(`refuses nesting deeper than ${MAX_DEPTH}, at once`, () => {
    expect(raw('['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH))).toBeNull();
    expect(raw('['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1))).toMatch(/deeper/);
    // "At once": the scan stops at the first byte past the limit, however long the frame (counted, not timed).
    const huge = Buffer.from('['.repeat(300_000) + ']'.repeat(300_000));
    let bytesRead = 0;
    const counted = new Proxy(huge, {
      get(target, prop) {
        if (typeof prop === 'string' && /^\d+$/.test(prop)) bytesRead++;
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    expect(checkRaw(counted, rules)).toMatch(/deeper/);
    expect(bytesRead).toBe(MAX_DEPTH + 1);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(raw(JSON.stringify({ type: 'typing', s: '[[[[[[[[[[[[[["\\' }))).toBeNull();
    expect(raw('{"a":"\\\\"' + ',"b":' + '['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH) + '}')).toMatch(/deeper/);
    expect(raw('{"a":"unterminated')).toMatch(/unterminated/);
  });

  it('refuses large frames with many structural tokens (not a message.send)', () => {
    expect(raw(JSON.stringify({ type: 'message.send', content: 'x', pad: Array(600).fill(0) }))).toMatch(/only message.send/);
    expect(raw(JSON.stringify({ type: 'typing', pad: Array(100).fill(0) }))).toBeNull(); // small: parsed normally
  });

  it('agrees with JSON.parse about depth on any JSON value', () => {
    const depthOf = (v: unknown): number => (v !== null && typeof v === 'object'
      ? 1 + Math.max(0, ...Object.values(v as object).map(depthOf)) : 0);
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 12 }), (v) => {
      const s = JSON.stringify(v);
      const r = checkRaw(Buffer.from(s), { maxControlFrameBytes: 1 << 30 });
      expect(r === null).toBe(depthOf(v) <= MAX_DEPTH);
    }), { numRuns: 300 });
  });
});

describe('frameGuard.checkParsed', () => {
  it('lets only message.send be larger than the control limit', () => {
    expect(checkParsed({ type: 'message.send' }, 5000, rules)).toBeNull();
    expect(checkParsed({ type: 'typing' }, 5000, rules)).toMatch(/only message.send/);
    expect(checkParsed({ type: 'typing' }, 1000, rules)).toBeNull();
  });
});

describe('TokenBucket', () => {
  it('allows the burst, refills at the rate, and tells far over from just over', () => {
    const b = new TokenBucket(100, 200, 0);
    expect(b.take(200, 0)).toBe(true);
    expect(b.take(1, 0)).toBe(false);
    expect(b.farOver()).toBe(false);
    expect(b.take(50, 500)).toBe(true);
    expect(b.take(150, 1000)).toBe(false);
    expect(b.farOver()).toBe(true);
  });
});
