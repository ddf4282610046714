import { ChatApiError, isRetryableCode } from './ChatApiError';
import type {
  AddMemberInput, BlocksResponse, BlockView, ConversationsResponse, ConversationSummary, DeviceInput, DevicesResponse, DeviceView,
  ErrorBody, GroupInput, GroupView, HistoryPage, LoginInput, LoginResponse, NodeRecommendation, NodesResponse, NodeView,
  PasswordChangeResponse, PasswordInput, PresenceResponse, PresenceView, SignupInput, SignupResponse, SyncPage, UserRef, UserView,
} from './wire';

/** The part of `fetch` the client uses (the global one in browsers and Node 20, or one passed in). */
export type FetchLike = (url: string, init: {
  method: string;
  headers: Record<string, string>;
  body?: string;
}) => Promise<{ status: number; headers: { get(name: string): string | null }; text(): Promise<string> }>;

/** One history page request: `before` pages back (newest first), `after` pages forward (oldest first; `'0'` from the start). */
export type HistoryQuery = { before?: string; limit?: number } | { after: string; limit?: number };

/**
 * The REST API, typed. Each call throws a ChatApiError for an error answer (with the server's
 * `code`, the status and `Retry-After`) or a network failure.
 *
 * Several base URLs (the nodes of a cluster) make reads survive a node going away: a GET that
 * cannot reach one node is tried on the next. Other methods are not retried, since a request that
 * reached the server before the connection broke may have taken effect.
 */
export class RestApi {
  /** Bases to try, the one that answered last first. */
  private readonly bases: string[];
  /** Set by login/signup-less construction or by `login`; sent as `Authorization: Bearer`. */
  token: string | null;

  constructor(baseUrl: string | readonly string[], private readonly fetchFn: FetchLike, token: string | null = null) {
    const list = (typeof baseUrl === 'string' ? [baseUrl] : [...baseUrl]).map((b) => b.replace(/\/+$/, ''));
    if (list.length === 0) throw new TypeError('ChatClient: baseUrl must name at least one node');
    this.bases = list;
    this.token = token;
  }

  /** Adds a node's REST base (learned from discovery) to try after the known ones. */
  learnBase(base: string): void {
    const b = base.replace(/\/+$/, '');
    if (!this.bases.includes(b)) this.bases.push(b);
  }

  // ---- auth ---------------------------------------------------------------------------------

  signup(username: string, password: string): Promise<SignupResponse> {
    return this.call('POST', '/api/auth/signup', { username, password } satisfies SignupInput, false);
  }

  /** Logs in and keeps the token for later calls and for the WebSocket. */
  async login(username: string, password: string): Promise<LoginResponse> {
    const r = await this.call<LoginResponse>('POST', '/api/auth/login', { username, password } satisfies LoginInput, false);
    this.token = r.token;
    return r;
  }

  logout(): Promise<void> { return this.call('POST', '/api/auth/logout'); }
  logoutAll(): Promise<void> { return this.call('POST', '/api/auth/logout-all'); }

  /** Every other token of the user stops working; the returned one is kept for later calls. */
  async changePassword(currentPassword: string, newPassword: string): Promise<PasswordChangeResponse> {
    const r = await this.call<PasswordChangeResponse>('POST', '/api/auth/password', { currentPassword, newPassword } satisfies PasswordInput);
    this.token = r.token;
    return r;
  }

  // ---- users, blocks, presence --------------------------------------------------------------

  me(): Promise<UserView> { return this.call('GET', '/api/users/me'); }
  findUser(username: string): Promise<UserRef> { return this.call('GET', `/api/users?username=${enc(username)}`); }
  /** A user's name by id (members and senders are ids). */
  user(userId: string): Promise<UserRef> { return this.call('GET', `/api/users/${enc(userId)}`); }
  block(userId: string): Promise<void> { return this.call('POST', `/api/users/${enc(userId)}/block`); }
  unblock(userId: string): Promise<void> { return this.call('DELETE', `/api/users/${enc(userId)}/block`); }
  async blocks(): Promise<BlockView[]> { return (await this.call<BlocksResponse>('GET', '/api/blocks')).blocks; }
  presence(userId: string): Promise<PresenceView> { return this.call('GET', `/api/users/${enc(userId)}/presence`); }
  async presenceOf(userIds: readonly string[]): Promise<PresenceView[]> {
    return (await this.call<PresenceResponse>('GET', `/api/presence?userIds=${userIds.map(enc).join(',')}`)).presence;
  }

  // ---- devices ------------------------------------------------------------------------------

  registerDevice(input: DeviceInput): Promise<DeviceView> { return this.call('POST', '/api/devices', input); }
  async devices(): Promise<DeviceView[]> { return (await this.call<DevicesResponse>('GET', '/api/devices')).devices; }
  removeDevice(deviceId: string): Promise<void> { return this.call('DELETE', `/api/devices/${enc(deviceId)}`); }

  // ---- conversations, history, sync ---------------------------------------------------------

  async conversations(): Promise<ConversationSummary[]> {
    return (await this.call<ConversationsResponse>('GET', '/api/conversations')).conversations;
  }

  history(conversationId: string, q: HistoryQuery = {}): Promise<HistoryPage> {
    const params: string[] = [];
    if ('after' in q) params.push(`after=${enc(q.after)}`);
    else if (q.before !== undefined) params.push(`before=${enc(q.before)}`);
    if (q.limit !== undefined) params.push(`limit=${q.limit}`);
    return this.call('GET', `/api/conversations/${enc(conversationId)}/messages${params.length ? '?' + params.join('&') : ''}`);
  }

  /** Every message of a conversation, newest first, a page at a time. */
  async *historyBackward(conversationId: string, pageSize = 100): AsyncGenerator<HistoryPage> {
    let before: string | undefined;
    for (;;) {
      const page = await this.history(conversationId, { before, limit: pageSize });
      yield page;
      if (!page.nextBefore) return;
      before = page.nextBefore;
    }
  }

  /** `GET /api/sync`: what the WebSocket catch-up would send, for a device (from its stored cursor, or `after`). */
  sync(deviceId: string, opts: { after?: string; limit?: number } = {}): Promise<SyncPage> {
    let path = `/api/sync?deviceId=${enc(deviceId)}`;
    if (opts.after !== undefined) path += `&after=${enc(opts.after)}`;
    if (opts.limit !== undefined) path += `&limit=${opts.limit}`;
    return this.call('GET', path);
  }

  // ---- groups -------------------------------------------------------------------------------

  createGroup(name: string, members: readonly string[]): Promise<GroupView> { return this.call('POST', '/api/groups', { name, members: [...members] } satisfies GroupInput); }
  group(conversationId: string): Promise<GroupView> { return this.call('GET', `/api/groups/${enc(conversationId)}`); }
  addMember(conversationId: string, userId: string): Promise<GroupView> {
    return this.call('POST', `/api/groups/${enc(conversationId)}/members`, { userId } satisfies AddMemberInput);
  }
  /** Removes a member (owner), or leaves (your own userId). */
  removeMember(conversationId: string, userId: string): Promise<void> {
    return this.call('DELETE', `/api/groups/${enc(conversationId)}/members/${enc(userId)}`);
  }

  // ---- nodes --------------------------------------------------------------------------------

  async nodes(): Promise<NodeView[]> { return (await this.call<NodesResponse>('GET', '/api/nodes')).nodes; }
  recommend(): Promise<NodeRecommendation> { return this.call('GET', '/api/nodes/recommend'); }

  /** One request; a GET that cannot reach a node is tried on the others. */
  async call<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = {};
    if (auth) {
      if (this.token === null) throw new ChatApiError('unauthorized', 'log in first (no token)', 401, undefined, false);
      headers.authorization = `Bearer ${this.token}`;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
    const tries = method === 'GET' ? this.bases.length : 1;
    let lastError: unknown;
    for (let i = 0; i < tries; i++) {
      const base = this.bases[0];
      let res: Awaited<ReturnType<FetchLike>>;
      try {
        res = await this.fetchFn(base + path, init);
      } catch (err) {
        lastError = err;
        // Unreachable: the next node goes first from now on.
        this.bases.push(this.bases.shift() as string);
        continue;
      }
      return parse<T>(res, await res.text());
    }
    throw new ChatApiError('network', `${method} ${path}: no node answered`, 0, undefined, true, { cause: lastError });
  }
}

function parse<T>(res: { status: number; headers: { get(name: string): string | null } }, text: string): T {
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ChatApiError('bad_response', `status ${res.status}, body not JSON: ${text.slice(0, 200)}`, res.status, undefined, false, { cause: err });
    }
  }
  if (res.status < 300) return json as T;
  const error = (json as Partial<ErrorBody> | undefined)?.error;
  if (!error || typeof error.code !== 'string') {
    throw new ChatApiError('bad_response', `status ${res.status} without an error body`, res.status, undefined, res.status >= 500, undefined);
  }
  const retryAfterHeader = res.headers.get('retry-after');
  const retryAfter = retryAfterHeader !== null && /^\d+$/.test(retryAfterHeader) ? Number(retryAfterHeader) : undefined;
  throw new ChatApiError(error.code, error.message, res.status, retryAfter, isRetryableCode(error.code));
}

const enc = encodeURIComponent;
