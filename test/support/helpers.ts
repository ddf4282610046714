import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import WebSocket from 'ws';
import { CONFIG_KEYS, parseConfig, readRaw, type Config } from '../../src/config/config';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Config for in-process integration tests: the run's Redis/Cassandra, plus overrides (raw key → value). */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return parseConfig({ ...readRaw(null, process.env, CONFIG_KEYS), ...overrides });
}

/** A key prefix of its own, so each test file is an isolated cluster in the shared Redis. */
export function uniquePrefix(): string {
  return `${process.env.CHAT_REDIS_KEY_PREFIX}${crypto.randomBytes(3).toString('hex')}:`;
}

export function uniqueName(base = 'u'): string {
  return `${base}_${crypto.randomBytes(5).toString('hex')}`;
}

/** Retries `fn` until it stops throwing (or returns truthy), every 50 ms up to `timeoutMs`. */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== false && v !== undefined && v !== null) return v;
      if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms`);
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const infra = require('../../scripts/lib/infra');

/** Fast failure detection for crash tests: leases expire in 3 s; cursors stay 10 s behind; no frame limit. */
export const FAST_FAILOVER = { CHAT_NODE_LEASE_TTL_SECONDS: '3', CHAT_SYNC_SAFETY_LAG_MS: '10000', CHAT_WS_MAX_FRAMES_PER_SECOND: '100000' };

/** Messages of the conversation a device got (text only), in the order it got them. */
export const textIds = (ws: WsClient, conversationId: string): string[] =>
  ws.messages().filter((m) => m.conversationId === conversationId && m.type === 'text').map((m) => m.messageId);

/** Whether message ids are in strictly increasing order. */
export const increasing = (ids: string[]): boolean => ids.every((id, i) => i === 0 || BigInt(id) > BigInt(ids[i - 1]));

/** Every page of the conversation's history as `user` reads it through `node`: text message ids, oldest first. */
export async function historyIds(node: NodeProc, user: TestUser, conversationId: string): Promise<string[]> {
  const out: string[] = [];
  let after = '0';
  for (;;) {
    const r = await api(node.url, 'GET', `/api/conversations/${conversationId}/messages?limit=100&after=${after}`, { token: user.token });
    expect(r.status).toBe(200);
    const ids = (r.body.messages as Array<{ messageId: string; type: string }>).filter((m) => m.type === 'text').map((m) => m.messageId);
    out.push(...ids);
    if (!r.body.messages.length) return out;
    after = r.body.messages[r.body.messages.length - 1].messageId;
  }
}

/** Every acked id received, and none twice. */
export function expectExactlyOnce(received: string[], acked: string[]): void {
  expect(received.length).toBe(new Set(received).size);
  expect([...received].sort()).toEqual([...acked].sort());
}

/** A Redis of its own: restarted, it comes back without data, or with its last `snapshot()` (an RDB file). */
export interface PrivateRedis {
  url: string;
  /** Writes an RDB snapshot now (SAVE): the next restart loads it, losing every write after it. */
  snapshot(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A Redis of the test's own (no persistence), for tests that restart it without its data. */
export async function privateRedis(name: string): Promise<PrivateRedis> {
  const port: number = await infra.freePort();
  const dir = path.join(infra.LOCAL, 'test-runs', String(process.env.TEST_RUN_ID), `${name}-${port}`);
  let redis = await infra.startRedis({ port, dir, persist: false });
  return {
    url: `redis://127.0.0.1:${port}`,
    snapshot: async () => {
      expect(infra.redisCli(port, 'SAVE').trim()).toBe('OK');
    },
    restart: async () => {
      await redis.stop();
      redis = await infra.startRedis({ port, dir, persist: false });
    },
    stop: () => redis.stop(),
  };
}

/** How many times the order and crash cases run in one go (`npm run test:repeat -- N` sets TEST_REPEAT). */
export const REPEAT = Math.max(1, Number(process.env.TEST_REPEAT ?? 1));

/** `it`, registered REPEAT times: each a fresh run of the case. */
export function itRepeated(title: string, fn: () => Promise<void>, timeoutMs?: number): void {
  for (let i = 1; i <= REPEAT; i++) it(REPEAT > 1 ? `${title} (run ${i} of ${REPEAT})` : title, fn, timeoutMs);
}

/**
 * Marks a long test's steps. A test that ends before `done()` (an assertion failed, or jest's own
 * timeout struck, after which nothing in the test runs) gets its steps so far, with the time of
 * each, and its nodes' warnings and errors printed: a stall then shows where it was and what the
 * nodes said meanwhile.
 */
export function stepsTraced(): { begin(nodes: () => NodeProc[]): void; step(name: string): void; done(): void } {
  let t0 = 0;
  let steps: string[] = [];
  let nodes: () => NodeProc[] = () => [];
  let finished = true;
  afterEach(() => {
    if (finished) return;
    const warnings = nodes().flatMap((n) => parseLogLines(n.output())
      .filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal')
      .map((l) => `node ${n.nodeId} ${JSON.stringify(l)}`));
    process.stderr.write(`[steps] ${expect.getState().currentTestName}: ${steps.join(', ')}; the test ended without done() at ${Date.now() - t0} ms\n` +
      `[steps] the nodes' warnings (last 40 of ${warnings.length}):\n${warnings.slice(-40).join('\n')}\n`);
    finished = true;
  });
  return {
    begin: (of) => { t0 = Date.now(); steps = []; nodes = of; finished = false; },
    step: (name) => { steps.push(`${name} at ${Date.now() - t0} ms`); },
    done: () => { finished = true; },
  };
}

// ---- node processes -------------------------------------------------------------------------

export interface NodeProc {
  proc: ChildProcess;
  port: number;
  nodeId: number;
  url: string;
  wsUrl: string;
  /** Everything the process wrote to stderr so far. */
  output(): string;
  /** Its stderr so far, one parsed JSON object per line (throws on a line that is not JSON). */
  logs(): LogLine[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** One line of a node's log (pino JSON). */
export interface LogLine {
  level: string;
  time: string;
  msg: string;
  nodeId: number | null;
  [field: string]: unknown;
}

/** Parses every complete line of a node's stderr as JSON. */
export function parseLogLines(out: string): LogLine[] {
  return out.split('\n').slice(0, -1).filter((l) => l.length > 0).map((line) => {
    try {
      return JSON.parse(line) as LogLine;
    } catch {
      throw new Error(`not a JSON log line: ${line}`);
    }
  });
}

/**
 * Starts `node dist/main.js <port>` (0: an ephemeral one) with the run's infra and `env`; resolves
 * once it logged "node started" (a JSON line).
 */
export function startNodeProcess(env: Record<string, string>, port = 0): Promise<NodeProc> {
  const proc = spawn(process.execPath, [path.join(ROOT, 'dist', 'main.js'), String(port)], {
    // A test that names its own Redis (CHAT_REDIS_URL) means it, in the clustered topology too.
    env: { ...process.env, CHAT_LOG_LEVEL: 'info', ...(env.CHAT_REDIS_URL ? { CHAT_REDIS_CLUSTER_NODES: '' } : {}), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  let scanned = 0;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start in 30 s:\n${out}`)), 30000);
    proc.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
      for (let nl; (nl = out.indexOf('\n', scanned)) >= 0;) {
        const line = out.slice(scanned, nl);
        scanned = nl + 1;
        const started = startedLine(line);
        if (started) {
          clearTimeout(timer);
          const { port, nodeId } = started;
          resolve({
            proc, port, nodeId, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws`,
            output: () => out, logs: () => parseLogLines(out), exited,
          });
        }
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code ?? signal}) before it started:\n${out}`));
    });
  });
}

/** The node's "node started" line's id and port, or null for any other line. */
function startedLine(line: string): { nodeId: number; port: number } | null {
  if (!line.startsWith('{')) return null;
  const entry = JSON.parse(line) as Partial<LogLine>;
  if (entry.msg !== 'node started' || typeof entry.port !== 'number' || typeof entry.nodeId !== 'number') return null;
  return { nodeId: entry.nodeId, port: entry.port };
}

export interface TestCluster {
  nodes: NodeProc[];
  prefix: string;
  stop(): Promise<void>;
}

/** `n` node processes forming one cluster (their own key prefix). */
export async function startCluster(n: number, env: Record<string, string> = {}): Promise<TestCluster> {
  const prefix = uniquePrefix();
  const nodes: NodeProc[] = [];
  for (let i = 0; i < n; i++) nodes.push(await startNodeProcess({ CHAT_REDIS_KEY_PREFIX: prefix, ...env }));
  return {
    nodes,
    prefix,
    stop: async () => {
      await Promise.all(nodes.map(async (node) => {
        if (node.proc.exitCode === null && node.proc.signalCode === null) node.proc.kill('SIGTERM');
        await node.exited;
      }));
    },
  };
}

/**
 * `count` nodes (FAST_FAILOVER) on a Redis of their own, for tests that restart Redis without its
 * data. A failure gets the nodes' logs appended (a race in recovery shows which step came when);
 * nodes and Redis are stopped in any case.
 */
export async function withNodesOnPrivateRedis(name: string, count: number,
  fn: (nodes: NodeProc[], redis: PrivateRedis) => Promise<void>): Promise<void> {
  const redis = await privateRedis(name);
  const nodes: NodeProc[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await startNodeProcess({ ...FAST_FAILOVER, CHAT_REDIS_URL: redis.url }));
    await fn(nodes, redis);
  } catch (err) {
    (err as Error).message += `\n--- node logs ---\n${nodes.map((n) => n.output()).join('\n---\n')}`;
    throw err;
  } finally {
    for (const n of nodes) n.proc.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exited));
    await redis.stop();
  }
}

// ---- REST ---------------------------------------------------------------------------------------

export interface ApiResponse<T = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  status: number;
  body: T;
}

export async function api(base: string, method: string, urlPath: string, opts: { token?: string; body?: unknown; raw?: string } = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined || opts.raw !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + urlPath, {
    method,
    headers,
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export interface TestUser {
  userId: string;
  username: string;
  password: string;
  token: string;
}

export async function newUser(base: string, name = uniqueName()): Promise<TestUser> {
  const password = 'password-' + name;
  const s = await api(base, 'POST', '/api/auth/signup', { body: { username: name, password } });
  if (s.status !== 201) throw new Error(`signup failed: ${JSON.stringify(s)}`);
  const l = await api(base, 'POST', '/api/auth/login', { body: { username: name, password } });
  if (l.status !== 200) throw new Error(`login failed: ${JSON.stringify(l)}`);
  return { userId: s.body.userId, username: name, password, token: l.body.token };
}

export async function newDevice(base: string, user: TestUser, name = 'device'): Promise<string> {
  const r = await api(base, 'POST', '/api/devices', { token: user.token, body: { name } });
  if (r.status !== 201) throw new Error(`device failed: ${JSON.stringify(r)}`);
  return r.body.deviceId;
}

// ---- WebSocket --------------------------------------------------------------------------------

/**
 * A connect function for a test file: its sockets are closed after each test (those the server
 * closed already are left alone).
 */
export function connectClosedAfterEach(): (node: { wsUrl: string }, user: TestUser, deviceId: string, after?: string) => Promise<WsClient> {
  const sockets: WsClient[] = [];
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((s) => (s.closeCode === null ? s.close() : undefined)));
  });
  return async (node, user, deviceId, after) => {
    const ws = await WsClient.connect(node.wsUrl, user.token, deviceId, after);
    sockets.push(ws);
    return ws;
  };
}

/** A new device of the user (registered over the node's REST), connected and caught up; closed after each test. */
export function onlineClosedAfterEach(): (node: NodeProc, user: TestUser) => Promise<WsClient> {
  const connect = connectClosedAfterEach();
  return async (node, user) => {
    const ws = await connect(node, user, await newDevice(node.url, user));
    await ws.synced();
    return ws;
  };
}

/** A WebSocket client that records every frame and close, for assertions. */
export class WsClient {
  readonly frames: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  closeCode: number | null = null;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket, early: Buffer[]) {
    for (const d of early) this.frames.push(JSON.parse(d.toString()));
    ws.on('message', (d) => this.frames.push(JSON.parse(d.toString())));
    this.closed = new Promise((resolve) => ws.on('close', (code) => {
      this.closeCode = code;
      resolve(code);
    }));
  }

  static connect(wsUrl: string, token: string, deviceId: string, after?: string): Promise<WsClient> {
    const q = after === undefined ? '' : `&after=${after}`;
    const ws = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}&deviceId=${encodeURIComponent(deviceId)}${q}`);
    // Frames can arrive before 'open' listeners run (catch-up starts at once): keep them.
    const early: Buffer[] = [];
    const keep = (d: Buffer) => early.push(d);
    ws.on('message', keep);
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.off('message', keep);
        resolve(new WsClient(ws, early));
      });
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** The HTTP status and JSON body an upgrade is refused with. */
  static refusal(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const ws = new WebSocket(url, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => { ws.close(); reject(new Error('upgrade was accepted')); });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body ? JSON.parse(body) : null }));
      });
      ws.once('error', () => undefined);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** `message.new` payloads received so far. */
  messages(): any[] { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.ofType('message.new').map((f) => f.message);
  }

  /** Confirms every message as it arrives (`message.received`, cumulative), like a well-behaved client. */
  autoConfirm(): this {
    const confirm = (id: string) => {
      this.ws.send(JSON.stringify({ type: 'message.received', messageId: id }));
      this.confirmed.push(id);
    };
    for (const m of this.messages()) confirm(m.messageId);
    this.ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      // Once closing, a message is still received but can no longer be confirmed: the server sends it again.
      if (f.type === 'message.new' && this.ws.readyState === WebSocket.OPEN) confirm(f.message.messageId);
    });
    return this;
  }

  /** Ids this client confirmed with `message.received` (autoConfirm). */
  readonly confirmed: string[] = [];

  /** Resolves once catch-up ended (`sync.complete`). */
  synced(timeoutMs = 10000): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.next((f) => f.type === 'sync.complete', timeoutMs);
  }

  /** Sends `message.send` frames for these clientMsgIds back to back; resolves with clientMsgId → ack or error frame. */
  async sendAll(target: { to?: string; conversationId?: string }, clientMsgIds: string[], timeoutMs = 30000): Promise<Map<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const id of clientMsgIds) this.send({ type: 'message.send', clientMsgId: id, ...target, content: `content of ${id}` });
    const want = new Set(clientMsgIds);
    await eventually(() => this.frames.filter((f) => want.has(f.clientMsgId)).length >= want.size, timeoutMs);
    const out = new Map<string, any>(); // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const f of this.frames) if (want.has(f.clientMsgId) && !out.has(f.clientMsgId)) out.set(f.clientMsgId, f);
    return out;
  }

  /**
   * Sends one message until it is acked, with the same clientMsgId each time (retryable errors come
   * while Redis or a node recovers); returns the ack. The refusals are added to `refused` if given.
   */
  async sendUntilAcked(target: { to?: string; conversationId?: string }, clientMsgId: string, refused?: unknown[]): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    for (let attempt = 0; ; attempt++) {
      this.frames.length = 0;
      const f = (await this.sendAll(target, [clientMsgId])).get(clientMsgId);
      if (f.type === 'message.ack') return f;
      expect(f.retryable).toBe(true);
      refused?.push(f);
      if (attempt > 100) throw new Error(`send ${clientMsgId} kept failing: ${JSON.stringify(f)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits for a frame matching `pred` (already received or arriving), returns it. */
  async next(pred: (f: any) => boolean, timeoutMs = 5000): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return eventually(() => this.frames.find(pred), timeoutMs);
  }

  ofType(type: string): any[] { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.frames.filter((f) => f.type === type);
  }

  close(): Promise<number> {
    this.ws.close();
    return this.closed;
  }
}
