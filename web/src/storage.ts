/**
 * What the page keeps in localStorage (per origin, so per node URL): the session, the browser's
 * device per user, and the sends not acked yet (resent with the same clientMsgId after a reload,
 * which the server answers with the first ack: nothing lost, nothing doubled).
 */
export interface Session { token: string; userId: string; username: string }

export interface StoredSend {
  clientMsgId: string;
  conversationId: string;
  /** The DM peer: a DM's first message creates it, so DMs are sent `to` the peer. */
  to?: string;
  content: string;
  createdAt: string;
  failed?: string;
}

const SESSION = 'streamchat.session';
const device = (userId: string) => `streamchat.device.${userId}`;
const outbox = (userId: string) => `streamchat.outbox.${userId}`;

function read<T>(key: string): T | null {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? null : (JSON.parse(raw) as T);
  } catch {
    return null; // storage disabled or a value from elsewhere: start without it
  }
}

function write(key: string, value: unknown): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or disabled: the page still works, it just forgets on reload
  }
}

export const storage = {
  session: (): Session | null => read<Session>(SESSION),
  setSession: (s: Session | null): void => write(SESSION, s),
  device: (userId: string): string | null => read<string>(device(userId)),
  setDevice: (userId: string, deviceId: string | null): void => write(device(userId), deviceId),
  outbox: (userId: string): StoredSend[] => read<StoredSend[]>(outbox(userId)) ?? [],
  setOutbox: (userId: string, sends: readonly StoredSend[]): void => write(outbox(userId), sends.length ? sends : null),
};
