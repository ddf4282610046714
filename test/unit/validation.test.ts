import { directConversationId } from '../../src/chat/model';
import { asObject, parseLimit, requireString, USERNAME } from '../../src/chat/validation';
import { ChatError } from '../../src/errors';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ChatError ? err.code : 'not-a-ChatError';
  }
  return undefined;
}

describe('validation', () => {
  it('usernames: 3..32 of [A-Za-z0-9_.-]', () => {
    for (const ok of ['abc', 'A.b-c_9', 'x'.repeat(32)]) expect(requireString({ u: ok }, 'u', USERNAME)).toBe(ok);
    for (const bad of ['ab', 'x'.repeat(33), 'white space', 'é-accent', 5, null, undefined]) {
      expect(code(() => requireString({ u: bad }, 'u', USERNAME))).toBe('invalid_request');
    }
  });

  it('bodies must be objects', () => {
    for (const bad of [null, [], 'x', 3]) expect(code(() => asObject(bad))).toBe('invalid_request');
    expect(code(() => asObject('x', 'frame', 'invalid_frame'))).toBe('invalid_frame');
  });

  it('limit defaults and bounds', () => {
    expect(parseLimit(undefined, 50, 100)).toBe(50);
    expect(parseLimit('1', 50, 100)).toBe(1);
    expect(parseLimit('100', 50, 100)).toBe(100);
    for (const bad of ['0', '101', '-1', 'ten', '1.5', ['1']]) expect(code(() => parseLimit(bad, 50, 100))).toBe('invalid_request');
  });

  it('direct conversation ids do not depend on who sends', () => {
    expect(directConversationId('a', 'b')).toBe(directConversationId('b', 'a'));
    expect(directConversationId('a', 'b')).not.toBe(directConversationId('a', 'c'));
  });
});
