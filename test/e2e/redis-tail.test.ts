import Redis from 'ioredis';
import { api, connectClosedAfterEach, eventually, expectExactlyOnce, itRepeated, newDevice, newUser, textIds, withNodesOnPrivateRedis } from '../support/helpers';

/**
 * Redis loses the last entries of a node's stream (a restore from an older snapshot, a failover
 * that lost the last writes) and their source then stays quiet: nothing later from it would show
 * the gap in its numbers. Its tail marks do (StreamRouter.markTails: every lease period, 1 s here).
 */
const connect = connectClosedAfterEach();


describe('Redis losing a stream entry while its source stays quiet', () => {
  itRepeated('the entry\'s messages reach the device anyway, once, within a tail-mark period and a resync', async () => {
    await withNodesOnPrivateRedis('redis-tail', 2, async ([A, B], privateRedis) => {
      const redis = new Redis(privateRedis.url);
      try {
        const [alice, bob] = await Promise.all([newUser(A.url), newUser(A.url)]);
        const g = (await api(A.url, 'POST', '/api/groups', { token: alice.token, body: { name: 'tail', members: [bob.userId] } })).body;
        const cid = g.conversationId as string;
        const a = await connect(A, alice, await newDevice(A.url, alice));
        const b = (await connect(B, bob, await newDevice(A.url, bob))).autoConfirm();
        await Promise.all([a.synced(), b.synced()]);
        const first = (await a.sendUntilAcked({ conversationId: cid }, 'c1')).messageId;
        await eventually(() => textIds(b, cid).includes(first), 10000);

        // B stops for a moment (well within its lease) and its blocked stream read is cut, so A's next
        // entry waits in the stream; there it is lost before B reads it.
        B.proc.kill('SIGSTOP');
        let lost: string;
        try {
          const readers = (await redis.client('LIST') as string).split('\n').filter((l) => / name=chat-stream /.test(l));
          for (const l of readers) await redis.client('KILL', 'ID', /\bid=(\d+)/.exec(l)![1]);
          lost = (await a.sendUntilAcked({ conversationId: cid }, 'c2')).messageId;
          const [stream] = await redis.keys(`*{n:${B.nodeId}}stream`);
          const entries = await redis.xrange(stream, '-', '+');
          const deliveries = entries.filter(([, fields]) => fields[0] === 'm' && fields[1].includes(lost)).map(([id]) => id);
          expect(deliveries.length).toBe(1);
          await redis.xdel(stream, ...deliveries);
        } finally {
          B.proc.kill('SIGCONT');
        }
        // Alice sends nothing more: only A's next tail mark can tell B that an entry is missing.
        await eventually(() => textIds(b, cid).includes(lost), 10000);
        expectExactlyOnce(textIds(b, cid), [first, lost]);
        expect(B.logs().some((l) => l.msg === 'entries from a node were lost: resyncing local devices')).toBe(true);
      } finally {
        redis.disconnect();
      }
    });
  }, 60000);
});
