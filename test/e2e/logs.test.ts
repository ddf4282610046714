import { eventually, FAST_FAILOVER, newDevice, newUser, privateRedis, startNodeProcess, WsClient } from '../support/helpers';

/**
 * A node's stderr, as an operator's log shipper reads it: one JSON object per line. The shape of
 * each field (BigInt, nested errors, redaction) is covered in test/unit/log.test.ts; here it is a
 * real node, at debug level, through start, traffic, a Redis outage and shutdown.
 */
it('writes only JSON lines with level, time, msg and nodeId; errors with their stack; no token or password', async () => {
  const redis = await privateRedis('logs');
  const node = await startNodeProcess({ ...FAST_FAILOVER, CHAT_REDIS_URL: redis.url, CHAT_LOG_LEVEL: 'debug' });
  let stopped = false;
  try {
    const user = await newUser(node.url);
    const device = await newDevice(node.url, user);
    const ws = await WsClient.connect(node.wsUrl, user.token, device);
    await ws.next((f) => f.type === 'sync.complete');
    await ws.close();

    // Redis goes away: the clients' errors are logged, each with its stack. Then it is back (empty).
    await redis.stop();
    await eventually(() => node.logs().some((l) => l.msg === 'redis client error'), 20000);
    await redis.restart();
    await eventually(async () => (await fetch(`${node.url}/ready`)).status === 200, 20000);
    node.proc.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);
    stopped = true;

    const lines = node.logs();
    expect(node.output().endsWith('\n')).toBe(true);
    for (const l of lines) {
      expect(l).toEqual(expect.objectContaining({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) }));
      expect(Number.isNaN(Date.parse(l.time))).toBe(false);
      expect(['debug', 'info', 'warn', 'error', 'fatal']).toContain(l.level);
      // Before the lease gives the node its id, the field is there and null; after, the id.
      expect(l.nodeId === null || l.nodeId === node.nodeId).toBe(true);
    }
    const started = lines.find((l) => l.msg === 'node started');
    expect(started).toMatchObject({ level: 'info', nodeId: node.nodeId, port: node.port, wsUrl: node.wsUrl });
    expect(lines.filter((l) => l.nodeId === node.nodeId).length).toBeGreaterThan(0);
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped', nodeId: node.nodeId });

    const redisError = lines.find((l) => l.msg === 'redis client error');
    expect(redisError?.err).toMatchObject({ message: expect.any(String), stack: expect.stringMatching(/^\w*Error: [^\n]*\n\s+at /) });

    // The password and bearer token went through this node (signup, login, upgrade URL): never to its log.
    expect(node.output()).not.toContain(user.password);
    expect(node.output()).not.toContain(user.token);
  } finally {
    if (!stopped) {
      node.proc.kill('SIGTERM');
      await node.exited;
    }
    await redis.stop();
  }
}, 60_000);
