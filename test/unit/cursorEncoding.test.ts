import { decodeSeen, encodeSeen } from '../../src/store/cassandra/CursorRepository';

describe('stored cursor: seen ids as base-36 gaps', () => {
  const safe = 7_400_000_000_000_000_000n;

  it('round-trips, in id order, whatever order the ids came in', () => {
    const seen = [safe + 90_000_000n, safe + 1n, safe + 41_943_040n, safe + 123_456_789_012_345_678n];
    const text = encodeSeen(safe, seen);
    expect(text.startsWith('~')).toBe(true);
    expect(decodeSeen(safe, text)).toEqual([...seen].sort((a, b) => (a < b ? -1 : 1)));
  });

  it('is much shorter than decimal ids for ids close together', () => {
    const seen = Array.from({ length: 3000 }, (_, i) => safe + BigInt(i + 1) * 41_943_040n); // 10 ms apart
    const text = encodeSeen(safe, seen);
    expect(decodeSeen(safe, text)).toEqual(seen);
    expect(text.length).toBeLessThan(seen.join(',').length / 2.5);
  });

  it('stores nothing for nothing, and still reads the earlier decimal format', () => {
    expect(encodeSeen(safe, [])).toBe('');
    expect(decodeSeen(safe, '')).toEqual([]);
    expect(decodeSeen(safe, `${safe + 5n},${safe + 9n}`)).toEqual([safe + 5n, safe + 9n]);
  });

  it('survives an id below safe (a negative gap)', () => {
    expect(decodeSeen(safe, encodeSeen(safe, [safe - 3n, safe + 2n]))).toEqual([safe - 3n, safe + 2n]);
  });
});
