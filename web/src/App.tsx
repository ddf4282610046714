import { useEffect, useState } from 'preact/hooks';
import { AuthScreen } from './AuthScreen';
import { ChatStore } from './ChatStore';
import { ConversationView } from './ConversationView';
import { Sidebar } from './Sidebar';
import { storage, type Session } from './storage';

/** REST base: the node that served the page (the SDK learns the others from discovery). */
const BASE = location.origin;

export function App() {
  const [session, setSession] = useState<Session | null>(storage.session);
  const [notice, setNotice] = useState<string | null>(null);
  const [store, setStore] = useState<ChatStore | null>(null);

  useEffect(() => {
    if (!session) return;
    const s = new ChatStore(BASE, session, (why) => {
      storage.setSession(null);
      setNotice(why);
      setSession(null);
    });
    setStore(s);
    s.start().catch((err) => s.showError(err));
    return () => { void s.close(); setStore(null); };
  }, [session]);

  if (!session || !store) {
    return (
      <AuthScreen
        notice={notice}
        onSignedIn={(s) => {
          storage.setSession(s);
          setNotice(null);
          setSession(s);
        }}
      />
    );
  }
  return (
    <Chat
      store={store}
      onLogout={async () => {
        await store.logout();
        storage.setSession(null);
        setSession(null);
      }}
    />
  );
}

function Chat({ store, onLogout }: { store: ChatStore; onLogout: () => void }) {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), [store]);
  useEffect(() => {
    const onVisible = () => { if (document.visibilityState === 'visible') store.markActiveRead(); };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [store]);
  const active = store.activeId ? store.conversations.get(store.activeId) ?? null : null;
  return (
    <div class={`chat ${active ? 'has-active' : ''}`}>
      <header class="topbar">
        <span class="brand">streamchat</span>
        <span
          class={`status status-${store.status}`}
          data-testid="connection-status"
          data-state={store.status}
          data-node-url={store.nodeUrl ?? undefined}
          title={store.nodeUrl ? `connected to ${store.nodeUrl}` : store.status}
        >
          {store.status === 'connected' ? 'Connected' : store.status === 'connecting' ? 'Connecting…' : 'Offline'}
        </span>
        <span class="spacer" />
        <span class="me" data-testid="me">{store.me.username}</span>
        <button type="button" class="link" data-testid="logout" onClick={onLogout}>Log out</button>
      </header>
      {store.stopped === 'replaced' && (
        <div class="banner" role="alert">
          This browser's chat is open in another tab.{' '}
          <button type="button" class="link" onClick={() => store.reconnect()}>Use it here</button>
        </div>
      )}
      {store.error && (
        <div class="banner error" role="alert" data-testid="error">
          {store.error} <button type="button" class="link" onClick={() => store.clearError()}>Dismiss</button>
        </div>
      )}
      <div class="panes">
        <Sidebar store={store} />
        {active ? <ConversationView key={active.conversationId} store={store} conversation={active} /> : (
          <main class="empty">Pick a conversation, or start one by username.</main>
        )}
      </div>
    </div>
  );
}
