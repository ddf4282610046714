import bcrypt from 'bcrypt';
import { PasswordHasher } from '../../src/auth/PasswordHasher';
import { Semaphore } from '../../src/chat/mapLimited';

describe('PasswordHasher', () => {
  const hasher = new PasswordHasher(4, 2);

  it('tells apart passwords that differ only after byte 72 (bcrypt alone does not)', async () => {
    const x = 'a'.repeat(72) + 'X';
    const y = 'a'.repeat(72) + 'Y';
    expect(await bcrypt.compare(y, await bcrypt.hash(x, 4))).toBe(true); // the flaw being fixed
    const stored = await hasher.hash(x);
    expect(await hasher.verify(x, stored)).toBe(true);
    expect(await hasher.verify(y, stored)).toBe(false);
    // Multi-byte: 36 x "é" is 72 bytes.
    const e = 'é'.repeat(36);
    expect(await hasher.verify(e + 'Y', await hasher.hash(e + 'X'))).toBe(false);
  });

  it('still verifies hashes stored before pre-hashing (plain bcrypt)', async () => {
    const legacy = await bcrypt.hash('correct horse', 4);
    expect(await hasher.verify('correct horse', legacy)).toBe(true);
    expect(await hasher.verify('wrong horse', legacy)).toBe(false);
  });

  it('marks new hashes, so old and new never get confused', async () => {
    const stored = await hasher.hash('correct horse');
    expect(stored).toMatch(/^v2:\$2[aby]\$04\$/);
    // The bcrypt part alone is not a plain hash of the password.
    expect(await hasher.verify('correct horse', stored.slice(3))).toBe(false);
  });
});

describe('Semaphore', () => {
  it('runs at most `limit` tasks at once and every task in the end, in arrival order', async () => {
    const gate = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const releases: Array<() => void> = [];
    const tasks = Array.from({ length: 7 }, (_, i) => gate.run(async () => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
      return i;
    }));
    // Let tasks finish one at a time; each finish admits exactly one waiter.
    for (let done = 0; done < 7; done++) {
      await new Promise((r) => setImmediate(r));
      expect(running).toBeLessThanOrEqual(2);
      releases.shift()!();
    }
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('frees the slot when a task fails', async () => {
    const gate = new Semaphore(1);
    await expect(gate.run(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await gate.run(async () => 'next')).toBe('next');
  });
});
