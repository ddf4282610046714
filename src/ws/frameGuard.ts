/**
 * Cheap checks on an inbound frame before JSON.parse runs on the event loop. A 600 KB frame of
 * nested arrays costs 60-85 ms to parse; these checks cost a byte scan that stops at the first
 * offence (and skips over string contents with a native search), so a bad frame is refused for
 * about what it cost to receive.
 */

export interface FrameRules {
  /** Largest frame of any type other than `message.send`, in bytes. */
  maxControlFrameBytes: number;
}

/** Objects and arrays may nest this deep (a valid frame nests 1 deep: an object of scalars). */
export const MAX_DEPTH = 8;
/**
 * A frame above the control limit may only be a `message.send`: one object of a few fields around
 * one long string. Structural characters (`{}[],:` outside strings) beyond this mean it is not one.
 */
export const MAX_LARGE_FRAME_TOKENS = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Why this frame must not be parsed (a message for the `invalid_frame` error), or null if it may be.
 * A frame that passes and is larger than the control limit must still turn out to be a
 * `message.send` once parsed (`checkParsed`); by then its parse cost is that of one long string.
 */
export function checkRaw(data: Buffer, rules: FrameRules): string | null {
  const large = data.length > rules.maxControlFrameBytes;
  let depth = 0;
  let tokens = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === QUOTE) {
      // Skip the string: the next quote not escaped by an odd run of backslashes. Neither byte
      // occurs inside a multi-byte UTF-8 sequence, so a byte search is exact.
      let end = data.indexOf(QUOTE, i + 1);
      while (end !== -1 && escaped(data, end)) end = data.indexOf(QUOTE, end + 1);
      if (end === -1) return 'frame is not valid JSON (unterminated string)';
      i = end;
      continue;
    }
    if (c === 0x7b || c === 0x5b) { // { [
      if (++depth > MAX_DEPTH) return `frame nests deeper than ${MAX_DEPTH}`;
    } else if (c === 0x7d || c === 0x5d) { // } ]
      depth--;
    } else if (c !== 0x2c && c !== 0x3a) { // , :
      continue;
    }
    if (large && ++tokens > MAX_LARGE_FRAME_TOKENS) return largeFrame(rules);
  }
  return null;
}

/** A parsed frame larger than the control limit must be a `message.send`; null if it is fine. */
export function checkParsed(frame: Record<string, unknown>, bytes: number, rules: FrameRules): string | null {
  return bytes > rules.maxControlFrameBytes && frame.type !== 'message.send' ? largeFrame(rules) : null;
}

function largeFrame(rules: FrameRules): string {
  return `only message.send frames may be larger than ${rules.maxControlFrameBytes} bytes`;
}

/** Whether the quote at `at` is escaped (preceded by an odd number of backslashes). */
function escaped(data: Buffer, at: number): boolean {
  let n = 0;
  for (let j = at - 1; j >= 0 && data[j] === BACKSLASH; j--) n++;
  return n % 2 === 1;
}

/**
 * A token bucket: `rate` per second sustained, `burst` at most saved up. `take` is all or nothing;
 * `over` counts what was refused within the current second (far over the rate is abuse).
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;
  private refusedSecond = 0;
  private refusedInSecond = 0;

  constructor(private readonly rate: number, private readonly burst: number, now = Date.now()) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  /** Takes `n` tokens if there are that many. */
  take(n: number, now = Date.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    if (this.tokens >= n) {
      this.tokens -= n;
      return true;
    }
    const second = Math.floor(now / 1000);
    if (second !== this.refusedSecond) {
      this.refusedSecond = second;
      this.refusedInSecond = 0;
    }
    this.refusedInSecond += n;
    return false;
  }

  /** Whether what was refused within this second exceeds a whole second's rate: the peer ignores the errors. */
  farOver(): boolean {
    return this.refusedInSecond > this.rate;
  }
}
