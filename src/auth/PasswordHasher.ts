import crypto from 'node:crypto';
import bcrypt from 'bcrypt';
import { Semaphore } from '../chat/mapLimited';

/**
 * Marks a stored hash as bcrypt over the pre-hash below. Hashes without it are plain bcrypt over the
 * password (stored before pre-hashing) and stay verifiable.
 */
const V2 = 'v2:';
/** Domain separation for the pre-hash (not a secret). */
const PREHASH_KEY = 'streamchat-password-v2';

/**
 * bcrypt with two fixes: it sees the whole password, and at most `maxConcurrent` hashes or compares
 * run at once on this node (each holds one of libuv's 4 threads; the rest queue).
 *
 * bcrypt reads only the first 72 bytes, so "a"*72+"X" and "a"*72+"Y" would be one password. New
 * hashes are taken over HMAC-SHA256(password) in base64: 44 bytes, no NUL (bcrypt stops at one).
 */
export class PasswordHasher {
  private readonly gate: Semaphore;

  constructor(private readonly rounds: number, maxConcurrent: number) {
    this.gate = new Semaphore(maxConcurrent);
  }

  hash(password: string): Promise<string> {
    return this.gate.run(async () => V2 + (await bcrypt.hash(prehash(password), this.rounds)));
  }

  verify(password: string, stored: string): Promise<boolean> {
    return this.gate.run(() => stored.startsWith(V2)
      ? bcrypt.compare(prehash(password), stored.slice(V2.length))
      : bcrypt.compare(password, stored));
  }
}

function prehash(password: string): string {
  return crypto.createHmac('sha256', PREHASH_KEY).update(password, 'utf8').digest('base64');
}
