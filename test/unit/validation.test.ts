import { directConversationId } from '../../src/chat/model';
import { parse } from '../../src/chat/validation';
import { ChatError } from '../../src/errors';
import { clientFrameSchemas, SEND_CHECK_ORDER, upgradeQuery } from '../../src/protocol/frames';
import { deviceBody, groupBody, historyQuery, loginBody, presenceQuery, signupBody, syncQuery } from '../../src/protocol/rest';
import type { z } from 'zod';

/** The error a check gives (code and exact message: clients and tests read both), or 'ok'. */
function check(schema: z.ZodType, value: unknown, code: 'invalid_request' | 'invalid_frame' = 'invalid_request', order?: readonly string[]): string {
  try {
    parse(schema, value, code, order);
    return 'ok';
  } catch (err) {
    return err instanceof ChatError ? `${err.code}: ${err.message}` : 'not-a-ChatError';
  }
}

describe('validation from the protocol schemas', () => {
  it('usernames: 3..32 of [A-Za-z0-9_.-]', () => {
    for (const ok of ['abc', 'A.b-c_9', 'x'.repeat(32)]) expect(check(signupBody, { username: ok, password: 'password1' })).toBe('ok');
    const cases: Array<[unknown, string]> = [
      ['ab', 'username must be 3..32 characters'],
      ['x'.repeat(33), 'username must be 3..32 characters'],
      ['white space', 'username may contain only letters, digits, _ . -'],
      ['é-accent', 'username may contain only letters, digits, _ . -'],
      [5, 'username is required and must be a string'],
      [null, 'username is required and must be a string'],
      [undefined, 'username is required and must be a string'],
    ];
    for (const [username, message] of cases) expect(check(signupBody, { username, password: 'password1' })).toBe(`invalid_request: ${message}`);
    // Fields are checked in order: the first bad one is named.
    expect(check(signupBody, { username: 'ab', password: 'x' })).toBe('invalid_request: username must be 3..32 characters');
    expect(check(signupBody, { username: 'abc', password: 'short' })).toBe('invalid_request: password must be 8..128 characters');
    expect(check(loginBody, { username: 'a b', password: 'p' })).toBe('ok');
  });

  it('bodies and frames must be objects', () => {
    for (const bad of [null, [], 'x', 3]) expect(check(deviceBody, bad)).toBe('invalid_request: body must be a JSON object');
    expect(check(clientFrameSchemas({ maxContentChars: 10 }).typing, 'x', 'invalid_frame')).toBe('invalid_frame: frame must be a JSON object');
  });

  it('optional fields: absent or null, else checked like required ones', () => {
    expect(check(deviceBody, { name: 'phone', platform: null })).toBe('ok');
    expect(check(deviceBody, { name: 'phone', platform: 5 })).toBe('invalid_request: platform is required and must be a string');
    expect(check(deviceBody, { name: '', pushToken: 5 })).toBe('invalid_request: name must be 1..64 characters');
  });

  it('group members: an array of at most twice the group limit, each named by its index', () => {
    const g = groupBody(2);
    expect(check(g, { name: 'g' })).toBe('ok');
    expect(check(g, { name: 'g', members: null })).toBe('ok');
    expect(check(g, { name: 'g', members: 'u1' })).toBe('invalid_request: members must be an array of user ids');
    expect(check(g, { name: 'g', members: ['a', 'b', 'c', 'd', 5] })).toBe('invalid_request: members must be an array of user ids');
    expect(check(g, { name: 'g', members: ['a', 5] })).toBe('invalid_request: 1 is required and must be a string');
    expect(check(g, { name: 'g', members: ['a', 'b c'] })).toBe('invalid_request: 1 is not a valid id');
    expect(check(g, { name: 'g', members: [''] })).toBe('invalid_request: 0 must be 1..128 characters');
    expect(check(g, { name: '', members: [5] })).toBe('invalid_request: name must be 1..100 characters');
  });

  it('limit defaults and bounds', () => {
    expect(parse(historyQuery, {}).limit).toBe(50);
    expect(parse(historyQuery, { limit: '1' }).limit).toBe(1);
    expect(parse(historyQuery, { limit: '100' }).limit).toBe(100);
    for (const bad of ['0', '101', '-1', 'ten', '1.5', ['1'], '00000']) expect(check(historyQuery, { limit: bad })).toBe('invalid_request: limit must be an integer 1..100');
    expect(check(syncQuery, { deviceId: 'd', limit: '501' })).toBe('invalid_request: limit must be an integer 1..500');
    expect(check(historyQuery, { before: ['1', '2'] })).toBe('invalid_request: before must be a message id');
  });

  it('message ids: decimal strings within 63 bits', () => {
    expect(check(syncQuery, { deviceId: 'd', after: '9223372036854775807' })).toBe('ok');
    for (const bad of ['9223372036854775808', '99999999999999999999', '-1', '1e3', '']) {
      expect(check(syncQuery, { deviceId: 'd', after: bad })).toBe('invalid_request: after must be a message id');
    }
    const f = clientFrameSchemas({ maxContentChars: 10 });
    expect(check(f['message.received'], { type: 'message.received', messageId: 12 }, 'invalid_frame'))
      .toBe('invalid_frame: messageId must be a message id (a decimal string)');
    expect(check(f['message.read'], { type: 'message.read', messageId: 'x' }, 'invalid_frame'))
      .toBe('invalid_frame: conversationId is required and must be a string');
  });

  it('message.send: checked in its order, content_too_long past the limit', () => {
    const send = clientFrameSchemas({ maxContentChars: 10 })['message.send'];
    const c = (frame: object) => check(send, { type: 'message.send', ...frame }, 'invalid_frame', SEND_CHECK_ORDER);
    expect(c({ clientMsgId: 'c', to: 'u', content: 'hi' })).toBe('ok');
    expect(c({ to: 'u', content: 'hi' })).toBe('invalid_frame: clientMsgId is required and must be a string');
    expect(c({ clientMsgId: 'x'.repeat(65), to: 'u', content: 'hi' })).toBe('invalid_frame: clientMsgId must be 1..64 characters');
    expect(c({ clientMsgId: 'c', content: 5 })).toBe('invalid_frame: give exactly one of "to" or "conversationId"');
    expect(c({ clientMsgId: 'c', to: 5, conversationId: 'x', content: 'hi' })).toBe('invalid_frame: give exactly one of "to" or "conversationId"');
    expect(c({ clientMsgId: 'c', to: null, content: 'hi' })).toBe('invalid_frame: to is required and must be a string');
    expect(c({ clientMsgId: 'c', conversationId: 'a b', content: 'hi' })).toBe('invalid_frame: conversationId is not a valid id');
    expect(c({ clientMsgId: 'c', to: 'u' })).toBe('invalid_frame: content is required and must be a string');
    expect(c({ clientMsgId: 'c', to: 'u', content: ' \n ' })).toBe('invalid_frame: content must not be empty');
    expect(c({ clientMsgId: 'c', to: 'u', content: ' '.repeat(20) })).toBe('invalid_frame: content must not be empty');
    expect(c({ clientMsgId: 'c', to: 'u', content: 'x'.repeat(10) })).toBe('ok');
    expect(c({ clientMsgId: 'c', to: 'u', content: 'x'.repeat(11) })).toBe('content_too_long: content must be at most 10 characters');
  });

  it('the upgrade query and the presence batch', () => {
    const deviceMessage = 'invalid_request: deviceId query parameter is required (register one with POST /api/devices)';
    for (const deviceId of [undefined, '', 'a b', 'x'.repeat(129)]) expect(check(upgradeQuery, { deviceId })).toBe(deviceMessage);
    expect(check(upgradeQuery, { deviceId: 'd', after: 'x' })).toBe('invalid_request: after must be a message id');
    expect(check(presenceQuery, {})).toBe('invalid_request: userIds is required and must be a string');
    expect(check(presenceQuery, { userIds: '' })).toBe('invalid_request: userIds must be 1..13000 characters');
  });

  it('direct conversation ids do not depend on who sends', () => {
    expect(directConversationId('a', 'b')).toBe(directConversationId('b', 'a'));
    expect(directConversationId('a', 'b')).not.toBe(directConversationId('a', 'c'));
  });
});
