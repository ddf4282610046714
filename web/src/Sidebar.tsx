import { useState } from 'preact/hooks';
import type { ChatStore } from './ChatStore';
import { describe } from './describe';

/** Start a DM, create a group, and the conversation list (most recent first, with unread badges). */
export function Sidebar({ store }: { store: ChatStore }) {
  const [dm, setDm] = useState('');
  const [groupName, setGroupName] = useState('');
  const [groupMembers, setGroupMembers] = useState('');
  const [error, setError] = useState<string | null>(null);

  const run = async (action: () => Promise<void>, reset: () => void) => {
    setError(null);
    try {
      await action();
      reset();
    } catch (err) {
      setError(describe(err));
    }
  };

  return (
    <aside class="sidebar">
      <form class="inline" onSubmit={(e) => { e.preventDefault(); void run(() => store.startDirect(dm), () => setDm('')); }}>
        <input data-testid="start-dm-username" placeholder="Message a username" value={dm} onInput={(e) => setDm(e.currentTarget.value)} required />
        <button type="submit" data-testid="start-dm-submit">Chat</button>
      </form>
      <details class="new-group">
        <summary>New group</summary>
        <form onSubmit={(e) => {
          e.preventDefault();
          const members = groupMembers.split(',').map((m) => m.trim()).filter(Boolean);
          void run(() => store.createGroup(groupName, members), () => { setGroupName(''); setGroupMembers(''); });
        }}>
          <input data-testid="new-group-name" placeholder="Group name" value={groupName} onInput={(e) => setGroupName(e.currentTarget.value)} required />
          <input data-testid="new-group-members" placeholder="Members: alice, bob" value={groupMembers} onInput={(e) => setGroupMembers(e.currentTarget.value)} />
          <button type="submit" data-testid="new-group-submit">Create</button>
        </form>
      </details>
      {error && <p class="error" data-testid="sidebar-error" role="alert">{error}</p>}
      <ul class="conversations" data-testid="conversation-list">
        {store.sortedConversations().map((c) => (
          <li key={c.conversationId}>
            <button
              type="button"
              class={`conversation ${c.conversationId === store.activeId ? 'active' : ''}`}
              data-testid="conversation-item"
              data-conversation-id={c.conversationId}
              onClick={() => store.open(c.conversationId)}
            >
              <span class="title" data-testid="conversation-title">{store.title(c)}</span>
              {c.unread > 0 && <span class="badge" data-testid="conversation-unread">{c.unread}</span>}
              <span class="last">{c.lastMessage ? preview(store, c.lastMessage) : c.type === 'group' ? 'group' : 'no messages yet'}</span>
            </button>
          </li>
        ))}
      </ul>
    </aside>
  );
}

function preview(store: ChatStore, m: { senderId: string; content: string; type: string }): string {
  const who = m.senderId === store.me.userId ? 'You' : store.name(m.senderId);
  return m.type === 'system' ? `${who}: ${m.content}` : `${who}: ${m.content.slice(0, 80)}`;
}
