import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { ChatStore, Conversation, Line } from './ChatStore';
import { describe } from './describe';

/** Loads the next older page when the list is scrolled this close to its top. */
const LOAD_OLDER_AT_PX = 80;

export function ConversationView({ store, conversation: c }: { store: ChatStore; conversation: Conversation }) {
  const [text, setText] = useState('');
  const [showMembers, setShowMembers] = useState(false);
  const list = useRef<HTMLDivElement>(null);
  const lines = store.lines(c.conversationId);
  const peer = c.type === 'direct' ? store.peerOf(c.members) : null;
  const typing = store.typingNames(c.conversationId);
  const presence = peer ? store.presenceOf(peer) : null;

  // Keeps the view where the reader is: at the bottom for new messages, in place when older ones come above.
  const shape = useRef({ first: '', last: '', height: 0, atBottom: true });
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    const before = shape.current;
    const first = lines[0]?.key ?? '';
    const last = lines[lines.length - 1]?.key ?? '';
    if (before.first && first !== before.first && last === before.last) el.scrollTop += el.scrollHeight - before.height;
    else if (before.atBottom || (last !== before.last && lines[lines.length - 1]?.senderId === store.me.userId)) el.scrollTop = el.scrollHeight;
    shape.current = { first, last, height: el.scrollHeight, atBottom: el.scrollHeight - el.scrollTop - el.clientHeight < 40 };
    // A first page shorter than the view: fetch more until it scrolls (or the start is reached).
    if (el.scrollHeight <= el.clientHeight && store.hasOlder(c.conversationId)) void store.loadOlder(c.conversationId);
  });

  const onScroll = () => {
    const el = list.current!;
    shape.current.atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < LOAD_OLDER_AT_PX && store.hasOlder(c.conversationId)) void store.loadOlder(c.conversationId);
  };

  const submit = () => {
    const content = text.trim();
    if (!content) return;
    store.send(c.conversationId, content);
    setText('');
  };

  return (
    <main class="conversation-view">
      <header class="conversation-header">
        <button type="button" class="back" data-testid="back" aria-label="Back to conversations" onClick={() => store.open(null)}>‹</button>
        <h2>{store.title(c)}</h2>
        {peer && presence && (
          <span class={`presence presence-${presence}`} data-testid="presence" data-status={presence}>{presence}</span>
        )}
        {c.type === 'group' && (
          <button type="button" class="link" data-testid="group-members-toggle" onClick={() => setShowMembers(!showMembers)}>
            {c.members.length} members
          </button>
        )}
      </header>
      {showMembers && c.type === 'group' && <Members store={store} conversation={c} />}
      <div class="message-list" data-testid="message-list" ref={list} onScroll={onScroll}>
        {!store.hasOlder(c.conversationId) && <p class="start">The start of the conversation.</p>}
        {lines.map((l) => <Message key={l.key} store={store} conversation={c} line={l} />)}
      </div>
      <p class="typing" data-testid="typing-indicator" hidden={typing.length === 0} aria-live="polite">
        {typing.length ? `${typing.join(', ')} ${typing.length > 1 ? 'are' : 'is'} typing…` : ''}
      </p>
      <form class="composer" onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <input
          data-testid="composer-input"
          placeholder="Message"
          value={text}
          autocomplete="off"
          onInput={(e) => { setText(e.currentTarget.value); store.typed(c.conversationId); }}
        />
        <button type="submit" data-testid="composer-send" disabled={!text.trim()}>Send</button>
      </form>
    </main>
  );
}

function Message({ store, conversation: c, line: l }: { store: ChatStore; conversation: Conversation; line: Line }) {
  const mine = l.senderId === store.me.userId;
  if (l.system) {
    return (
      <div class="message system" data-testid="message" data-message-id={l.messageId ?? undefined} data-type="system">
        <span data-testid="message-sender" hidden>{store.name(l.senderId)}</span>
        <span data-testid="message-content">{systemText(store, l)}</span>
      </div>
    );
  }
  const read = mine && l.messageId !== null && store.readByOthers(c.conversationId, l.messageId);
  return (
    <div
      class={`message ${mine ? 'mine' : ''}`}
      data-testid="message"
      data-message-id={l.messageId ?? undefined}
      data-status={l.status ?? undefined}
      data-read={mine && l.messageId ? String(read) : undefined}
    >
      <span class="sender" data-testid="message-sender">{store.name(l.senderId)}</span>
      <span class="content" data-testid="message-content">{l.content}</span>
      <span class="meta">
        <time dateTime={l.createdAt}>{new Date(l.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</time>
        {l.status === 'pending' && <span class="state" title="sending">•••</span>}
        {l.status === 'sent' && <span class="state" title={read ? 'read' : 'sent'}>{read ? '✓✓ read' : '✓'}</span>}
        {l.status === 'failed' && (
          <span class="state failed" title={l.error ?? 'failed'}>
            failed <button type="button" class="link" data-testid="message-retry" onClick={() => store.retry(l.clientMsgId!)}>Retry</button>
          </span>
        )}
      </span>
    </div>
  );
}

function systemText(store: ChatStore, l: Line): string {
  const actor = store.name(l.senderId);
  const user = l.system ? store.name(l.system.userId) : '';
  switch (l.system?.action) {
    case 'group.created': return `${actor} created the group`;
    case 'member.added': return `${actor} added ${user}`;
    case 'member.removed': return `${actor} removed ${user}`;
    case 'member.left': return `${user} left`;
    default: return l.content;
  }
}

/** A group's members: the owner adds and removes; anyone can leave. */
function Members({ store, conversation: c }: { store: ChatStore; conversation: Conversation }) {
  const [username, setUsername] = useState('');
  const [error, setError] = useState<string | null>(null);
  const owner = c.ownerId === store.me.userId;
  const act = async (action: () => Promise<void>) => {
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(describe(err));
    }
  };
  return (
    <section class="members" data-testid="group-members">
      <ul>
        {c.members.map((m) => (
          <li key={m} data-testid="group-member" data-user-id={m}>
            {store.name(m)}{m === c.ownerId ? ' (owner)' : ''}
            {m === store.me.userId ? (
              <button type="button" class="link" data-testid="group-leave" onClick={() => void act(() => store.removeMember(c.conversationId, m))}>Leave</button>
            ) : owner && (
              <button type="button" class="link" data-testid="group-member-remove" onClick={() => void act(() => store.removeMember(c.conversationId, m))}>Remove</button>
            )}
          </li>
        ))}
      </ul>
      {owner && (
        <form class="inline" onSubmit={(e) => { e.preventDefault(); void act(async () => { await store.addMember(c.conversationId, username); setUsername(''); }); }}>
          <input data-testid="group-add-username" placeholder="Add a username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />
          <button type="submit" data-testid="group-add-submit">Add</button>
        </form>
      )}
      {error && <p class="error" role="alert">{error}</p>}
    </section>
  );
}
