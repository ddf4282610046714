import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log';

/** A real pino logger writing into memory; each line parsed as JSON (throws if one is not). */
function capture(level: 'debug' | 'info' = 'info', nodeId: () => number | null = () => 7): { log: Logger; lines: () => Array<Record<string, any>> } { // eslint-disable-line @typescript-eslint/no-explicit-any
  let out = '';
  const destination = new Writable({ write(chunk: Buffer, _enc, done) { out += chunk.toString(); done(); } });
  const log = createLogger(level, { nodeId, destination });
  return { log, lines: () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

describe('createLogger (pino)', () => {
  it('writes one JSON object per line with level, time, msg and nodeId', () => {
    let id: number | null = null;
    const { log, lines } = capture('info', () => id);
    log.info('before the lease');
    id = 12;
    log.warn({ count: 3 }, 'after');
    log.debug('below the level');
    expect(lines()).toEqual([
      { level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), nodeId: null, msg: 'before the lease' },
      { level: 'warn', time: expect.any(String), nodeId: 12, count: 3, msg: 'after' },
    ]);
  });

  it('writes BigInts as decimal strings wherever they are', () => {
    const { log, lines } = capture();
    const id = 2n ** 62n + 1n; // past 2^53: a JSON number would round it
    log.info({ messageId: id, nested: { ids: [id, 5n], deeper: { prev: 0n } } }, 'ids');
    const err = Object.assign(new Error('with an id'), { messageId: id });
    log.warn({ err }, 'error with a bigint field');
    const [a, b] = lines();
    expect(a.messageId).toBe(id.toString());
    expect(a.nested).toEqual({ ids: [id.toString(), '5'], deeper: { prev: '0' } });
    expect(b.err.messageId).toBe(id.toString());
  });

  it('writes a Buffer as its size and a Date as ISO text', () => {
    const { log, lines } = capture();
    log.info({ frame: Buffer.from('{"type":"x"}'), at: new Date(0) }, 'objects');
    expect(lines()[0]).toMatchObject({ frame: '[12 bytes]', at: '1970-01-01T00:00:00.000Z' });
  });

  it('writes an error with its type, message, stack and causes, also nested in another field', () => {
    const { log, lines } = capture();
    const root = new TypeError('socket hang up');
    log.error({ err: new Error('write failed', { cause: root }) }, 'failed');
    log.warn({ detail: { err: new RangeError('deep') } }, 'nested');
    const [a, b] = lines();
    expect(a.err).toMatchObject({ type: 'Error', message: 'write failed', stack: expect.stringContaining('Error: write failed\n    at ') });
    expect(a.err.cause).toMatchObject({ type: 'TypeError', message: 'socket hang up', stack: expect.stringContaining('TypeError: socket hang up\n    at ') });
    expect(b.detail.err).toMatchObject({ type: 'RangeError', message: 'deep', stack: expect.stringContaining('RangeError: deep') });
  });

  it('redacts tokens, passwords, push tokens and Authorization headers', () => {
    const { log, lines } = capture();
    log.info({
      token: 'tok-secret', password: 'pw-secret', pushToken: 'push-secret',
      body: { password: 'pw2-secret', newPassword: 'pw3-secret' },
      req: { headers: { authorization: 'Bearer tok2-secret' } },
      device: { pushToken: 'push2-secret' },
    }, 'secrets');
    const raw = JSON.stringify(lines());
    expect(raw).not.toMatch(/-secret/);
    expect(lines()[0]).toMatchObject({ token: '[redacted]', password: '[redacted]', body: { password: '[redacted]' }, req: { headers: { authorization: '[redacted]' } } });
  });

  it('child loggers carry their bindings on every line', () => {
    const { log, lines } = capture('debug');
    log.child({ component: 'ws' }).child({ connId: 'c1', userId: 'u1', deviceId: 'd1' }).debug({ count: 1 }, 'frame');
    expect(lines()[0]).toMatchObject({ component: 'ws', connId: 'c1', userId: 'u1', deviceId: 'd1', nodeId: 7, count: 1, msg: 'frame' });
  });
});
