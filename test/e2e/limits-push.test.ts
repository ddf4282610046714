import Redis from 'ioredis';
import { connectClosedAfterEach, newDevice, newUser, onlineClosedAfterEach, startCluster, type TestCluster, type TestUser } from '../support/helpers';

/**
 * Issue 10 #13: the push stream is capped (~100k), one job per offline recipient. One sender's jobs
 * are bounded per minute (push.maxJobsPerSenderPerMinute, cluster-wide in Redis): past it their
 * messages are still delivered but queue no job, so a spammer cannot trim everyone else's out.
 */
let cluster: TestCluster;
let A: string;
let redis: Redis;
const QUOTA = 5;
beforeAll(async () => {
  // A long grace period keeps every job in the stream, where it is counted.
  cluster = await startCluster(2, { CHAT_PUSH_MAX_JOBS_PER_SENDER_PER_MINUTE: String(QUOTA), CHAT_PUSH_DELAY_MS: '600000', CHAT_WS_MAX_FRAMES_PER_SECOND: '100000' });
  A = cluster.nodes[0].url;
  redis = new Redis(process.env.CHAT_REDIS_URL!);
});
afterAll(async () => {
  await cluster.stop();
  redis.disconnect();
});
const connect = connectClosedAfterEach();
const onNode = onlineClosedAfterEach();
const online = (node: number, user: TestUser) => onNode(cluster.nodes[node], user);

/** The jobs in the push stream, as [senderId, userId]. */
async function jobs(): Promise<Array<[string, string]>> {
  const entries = await redis.xrange(`${cluster.prefix}push:jobs`, '-', '+');
  return entries.map(([, fields]) => {
    const j = JSON.parse(fields[1]);
    return [j.senderId, j.userId];
  });
}

describe('push jobs per sender', () => {
  it('queues at most the quota per minute across nodes; the messages are delivered anyway; other senders are unaffected', async () => {
    const [spammer, friend] = await Promise.all([newUser(A), newUser(A)]);
    const victims = await Promise.all(Array.from({ length: 8 }, () => newUser(A)));
    // The spammer's two devices on two nodes share one quota.
    const s0 = await online(0, spammer);
    const s1 = await online(1, spammer);
    const acks0 = await s0.sendAll({ to: victims[0].userId }, ['a1', 'a2', 'a3']);
    const acks1 = await s1.sendAll({ to: victims[1].userId }, ['b1', 'b2', 'b3']);
    const more = new Map<string, unknown>();
    for (const [i, v] of victims.slice(2).entries()) for (const [k, f] of await s0.sendAll({ to: v.userId }, [`c${i}`])) more.set(k, f);
    for (const f of [...acks0.values(), ...acks1.values(), ...more.values()]) expect(f).toMatchObject({ type: 'message.ack' });
    const f = await online(1, friend);
    await f.sendAll({ to: victims[0].userId }, ['f1']);
    const queued = await jobs();
    expect(queued.filter(([s]) => s === spammer.userId)).toHaveLength(QUOTA);
    expect(queued.filter(([s]) => s === friend.userId)).toEqual([[friend.userId, victims[0].userId]]);
    // Delivered all the same: the victim reads every message on connecting.
    const v = await connect(cluster.nodes[0], victims[2], await newDevice(A, victims[2]), '1');
    await v.synced();
    expect(v.messages().map((m) => m.content)).toEqual(['content of c0']);
  });
});
