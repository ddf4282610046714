import { api, connectClosedAfterEach, newDevice, newUser, startCluster, type TestCluster, type TestUser } from '../support/helpers';

/**
 * Issue 10 #9: direct ids are d_<min>_<max>, so a 403 for "exists, not yours" next to a 404 for
 * "missing" told anyone who talks to whom. A non-member must get exactly what a missing
 * conversation gets, on REST and over WebSocket.
 */
let cluster: TestCluster;
let A: string;
beforeAll(async () => {
  cluster = await startCluster(1);
  A = cluster.nodes[0].url;
});
afterAll(() => cluster.stop());
const connect = connectClosedAfterEach();

/** The answer with the conversation id taken out of the message (the only part allowed to differ). */
function shape(status: number, body: unknown, conversationId: string): unknown {
  return JSON.parse(JSON.stringify({ status, body }).split(conversationId).join('<id>'));
}

describe('a non-member gets the answer a missing conversation gets', () => {
  let alice: TestUser;
  let bob: TestUser;
  let eve: TestUser;
  let direct: string;
  let group: string;
  beforeAll(async () => {
    [alice, bob, eve] = await Promise.all([newUser(A), newUser(A), newUser(A)]);
    const a = await connect(cluster.nodes[0], alice, await newDevice(A, alice));
    a.send({ type: 'message.send', clientMsgId: 'p1', to: bob.userId, content: 'private' });
    direct = (await a.next((f) => f.clientMsgId === 'p1')).conversationId;
    group = (await api(A, 'POST', '/api/groups', { token: alice.token, body: { name: 'secret', members: [bob.userId] } })).body.conversationId;
    await a.close();
  });

  it('on every REST route that names a conversation', async () => {
    const missingDirect = [eve.userId, '00000000-0000-0000-0000-000000000000'].sort().join('_');
    const routes: Array<[string, (cid: string) => string, unknown?]> = [
      ['GET', (cid) => `/api/conversations/${cid}/messages`],
      ['GET', (cid) => `/api/conversations/${cid}/messages?after=1`],
      ['GET', (cid) => `/api/groups/${cid}`],
      ['POST', (cid) => `/api/groups/${cid}/members`, { userId: eve.userId }],
      ['DELETE', (cid) => `/api/groups/${cid}/members/${bob.userId}`],
      ['DELETE', (cid) => `/api/groups/${cid}/members/${eve.userId}`],
    ];
    for (const [existing, missing] of [[direct, `d_${missingDirect}`], [group, 'g_1234567890']]) {
      for (const [method, path, body] of routes) {
        const theirs = await api(A, method, path(existing), { token: eve.token, body });
        const none = await api(A, method, path(missing), { token: eve.token, body });
        expect([method, path('<id>'), shape(theirs.status, theirs.body, existing)])
          .toEqual([method, path('<id>'), shape(none.status, none.body, missing)]);
        expect(theirs.status).toBe(404);
      }
    }
  });

  it('over WebSocket: message.send, message.read, typing', async () => {
    const e = await connect(cluster.nodes[0], eve, await newDevice(A, eve));
    await e.synced();
    for (const [existing, missing] of [[direct, 'd_no_such'], [group, 'g_1234567890']]) {
      const frames: Array<(cid: string, i: number) => Record<string, unknown>> = [
        (cid, i) => ({ type: 'message.send', clientMsgId: `x${i}`, conversationId: cid, content: 'hello?' }),
        (cid) => ({ type: 'message.read', conversationId: cid, messageId: '1' }),
        (cid) => ({ type: 'typing', conversationId: cid }),
      ];
      for (const [i, frame] of frames.entries()) {
        const answers = [];
        for (const [j, cid] of [existing, missing].entries()) {
          const before = e.ofType('error').length;
          e.send(frame(cid, i * 10 + j));
          await e.next(() => e.ofType('error').length > before);
          const { clientMsgId: _, ...err } = e.ofType('error')[before];
          answers.push(shape(0, err, cid));
        }
        expect([frame('<id>', 0).type, answers[0]]).toEqual([frame('<id>', 0).type, answers[1]]);
        expect(answers[0]).toMatchObject({ body: { code: 'not_found' } });
      }
    }
  });
});
