import net from 'node:net';
import { Client, errors as cassandraErrors, types } from 'cassandra-driver';
import Redis, { ReplyError } from 'ioredis';
import { ChatError, toChatError } from '../../src/errors';
import { errorStatus } from '../../src/http/errors';

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function expectUnavailable(err: unknown): void {
  const e = toChatError(err);
  expect(e.code).toBe('unavailable');
  expect(e.retryable).toBe(true);
  expect(errorStatus(e.code)).toBe(503);
  expect(e.cause).toBe(err);
}

function expectInternal(err: unknown): void {
  const e = toChatError(err);
  expect(e.code).toBe('internal');
  expect(e.retryable).toBe(false);
  expect(errorStatus(e.code)).toBe(500);
  expect(e.cause).toBe(err);
}

describe('toChatError', () => {
  it('passes a ChatError through unchanged', () => {
    const e = new ChatError('forbidden', 'no');
    expect(toChatError(e)).toBe(e);
  });

  it('reports bugs as internal (500, not retryable)', () => {
    expectInternal(new TypeError("Cannot read properties of undefined (reading 'members')"));
    expectInternal(new RangeError('Invalid array length'));
    expectInternal(new Error('commit slot used twice'));
    expectInternal('a string was thrown');
    expectInternal(undefined);
  });

  it('reports Cassandra outages and timeouts as unavailable', () => {
    expectUnavailable(new cassandraErrors.NoHostAvailableError({}));
    expectUnavailable(new cassandraErrors.OperationTimedOutError('The host 127.0.0.1:9042 did not reply before timeout 12000 ms', '127.0.0.1:9042'));
    expectUnavailable(new cassandraErrors.BusyConnectionError('127.0.0.1:9042', 2048, 1));
    const codes = types.responseErrorCodes;
    for (const code of [codes.unavailableException, codes.overloaded, codes.isBootstrapping, codes.writeTimeout, codes.readTimeout,
      codes.readFailure, codes.writeFailure]) {
      expectUnavailable(new cassandraErrors.ResponseError(code, 'Cassandra timeout during write query'));
    }
  });

  it('reports Cassandra answers to a wrong query as internal', () => {
    const codes = types.responseErrorCodes;
    expectInternal(new cassandraErrors.ResponseError(codes.syntaxError, "line 1:0 no viable alternative at input 'SELEC'"));
    expectInternal(new cassandraErrors.ResponseError(codes.invalid, 'Undefined column name foo'));
    expectInternal(new cassandraErrors.ArgumentError('Wrong number of parameters'));
  });

  it('reports Redis servers that are loading or failing over as unavailable, a wrong command as internal', () => {
    const Reply = ReplyError as new (message: string) => Error;
    expectUnavailable(new Reply('LOADING Redis is loading the dataset in memory'));
    expectUnavailable(new Reply('CLUSTERDOWN The cluster is down'));
    expectUnavailable(new Reply('READONLY You can\'t write against a read only replica.'));
    expectUnavailable(new Reply('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.'));
    expectInternal(new Reply('WRONGTYPE Operation against a key holding the wrong kind of value'));
    expectInternal(new Reply("ERR Error running script (call to f_0123): @user_script:1: Script attempted to access nonexistent global variable 'x'"));
  });

  it('reports a Redis Cluster without a master for a slot, or out of reach, as unavailable; CROSSSLOT (a bug) as internal', () => {
    const Reply = ReplyError as new (message: string) => Error;
    expectUnavailable(new Reply('TRYAGAIN Multiple keys request during rehashing of slot'));
    expectUnavailable(new Reply('CLUSTERDOWN Hash slot not served'));
    expectUnavailable(new Error('Too many Cluster redirections. Last error: Error: Connection is closed.'));
    expectUnavailable(new Error('Failed to refresh slots cache.'));
    expectUnavailable(Object.assign(new Error('Failed to refresh slots cache.'), { name: 'ClusterAllFailedError' }));
    expectInternal(new Reply("CROSSSLOT Keys in request don't hash to the same slot"));
  });

  it('an error wrapping a transient cause is unavailable', () => {
    expectUnavailable(new Error('routing failed', { cause: new cassandraErrors.NoHostAvailableError({}) }));
  });

  describe('real connection failures (a closed port)', () => {
    let port: number;
    beforeAll(async () => {
      port = await closedPort();
    });

    it('Cassandra: NoHostAvailableError', async () => {
      const db = new Client({ contactPoints: [`127.0.0.1:${port}`], localDataCenter: 'dc1' });
      const err = await rejection(db.connect());
      await db.shutdown();
      expect(err).toBeInstanceOf(cassandraErrors.NoHostAvailableError);
      expectUnavailable(err);
    });

    it('Redis: MaxRetriesPerRequestError while reconnecting', async () => {
      const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 10 });
      redis.on('error', () => undefined);
      const err = await rejection(redis.get('k'));
      redis.disconnect();
      expect((err as Error).name).toBe('MaxRetriesPerRequestError');
      expectUnavailable(err);
    });

    it('Redis: connection closed (no more retries)', async () => {
      const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null });
      redis.on('error', () => undefined);
      const err = await rejection(redis.get('k'));
      redis.disconnect();
      expect((err as Error).message).toBe('Connection is closed.');
      expectUnavailable(err);
    });

    it('a raw socket refused: ECONNREFUSED', async () => {
      const err = await new Promise<Error>((resolve) => {
        net.connect(port, '127.0.0.1').on('error', resolve);
      });
      expectUnavailable(err);
    });
  });
});
