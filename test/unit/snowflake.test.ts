import { EPOCH_MS, idNode, idTimestamp, MAX_AHEAD_MS, minIdAt, parseId, SnowflakeGenerator } from '../../src/chat/snowflake';

describe('SnowflakeGenerator', () => {
  it('makes strictly increasing, unique ids', () => {
    const gen = new SnowflakeGenerator(7);
    let prev = -1n;
    const seen = new Set<bigint>();
    for (let i = 0; i < 20000; i++) {
      const id = gen.next();
      expect(id > prev).toBe(true);
      seen.add(id);
      prev = id;
    }
    expect(seen.size).toBe(20000);
  });

  it('advancePast puts the next id after another node\'s, `aheadMs` further on, and never goes back', () => {
    const t = EPOCH_MS + 9000;
    const other = new SnowflakeGenerator(1000, () => t).next();
    const gen = new SnowflakeGenerator(1, () => t);
    gen.advancePast(other);
    expect(idTimestamp(gen.next())).toBe(t + 1);
    gen.advancePast(other, 7);
    const ahead = gen.next();
    expect(idTimestamp(ahead)).toBe(t + 8);
    expect(ahead > new SnowflakeGenerator(1023, () => t + 7).next()).toBe(true); // beats any node still at t + 7
    gen.advancePast(other, 2);
    expect(gen.next() > ahead).toBe(true);
    // However far asked, never more than MAX_AHEAD_MS past its own clock (but always past `id`).
    gen.advancePast(other, 10_000);
    expect(idTimestamp(gen.next())).toBe(t + MAX_AHEAD_MS);
    gen.advancePast(new SnowflakeGenerator(1000, () => t + 5000).next(), 10_000);
    expect(idTimestamp(gen.next())).toBe(t + 5001);
  });

  it('encodes time and node id', () => {
    const gen = new SnowflakeGenerator(1023, () => EPOCH_MS + 123456);
    const id = gen.next();
    expect(idTimestamp(id)).toBe(EPOCH_MS + 123456);
    expect(idNode(id)).toBe(1023);
  });

  it('ids from different nodes in the same millisecond differ and order by time first', () => {
    const t = EPOCH_MS + 5000;
    const a = new SnowflakeGenerator(1, () => t).next();
    const b = new SnowflakeGenerator(2, () => t).next();
    const later = new SnowflakeGenerator(0, () => t + 1).next();
    expect(a).not.toBe(b);
    expect(later > a && later > b).toBe(true);
  });

  it('never goes backwards when the clock does', () => {
    let now = EPOCH_MS + 10_000;
    const gen = new SnowflakeGenerator(3, () => now);
    const first = gen.next();
    now -= 5000;
    const second = gen.next();
    expect(second > first).toBe(true);
  });

  it('borrows the next millisecond after 4096 ids in one', () => {
    const gen = new SnowflakeGenerator(0, () => EPOCH_MS + 1);
    const ids = Array.from({ length: 5000 }, () => gen.next());
    expect(new Set(ids).size).toBe(5000);
    expect(idTimestamp(ids[4096])).toBe(EPOCH_MS + 2);
  });

  it('rejects node ids outside 0..1023', () => {
    expect(() => new SnowflakeGenerator(1024)).toThrow(RangeError);
    expect(() => new SnowflakeGenerator(-1)).toThrow(RangeError);
  });

  it('minIdAt is below every id made at or after that time', () => {
    const t = EPOCH_MS + 99_999;
    expect(minIdAt(t) <= new SnowflakeGenerator(0, () => t).next()).toBe(true);
    expect(minIdAt(t) > new SnowflakeGenerator(1023, () => t - 1).next()).toBe(true);
  });
});

describe('parseId', () => {
  it('accepts decimal 64-bit ids only', () => {
    expect(parseId('382699700291112960')).toBe(382699700291112960n);
    expect(parseId('0')).toBe(0n);
    expect(parseId('9223372036854775807')).toBe(9223372036854775807n);
    for (const bad of ['9223372036854775808', '-1', '1.5', '', 'abc', ' 12', 12, null, undefined, '12345678901234567890']) {
      expect(parseId(bad)).toBeNull();
    }
  });
});
