import WebSocket from 'ws';
import { ChatClient, type MessageView, type SendAck } from '../../client/src';
import { expectExactlyOnce, uniqueName, type NodeProc } from '../support/helpers';

/**
 * The e2e flow the failure tests run through a failure: a group of three users on two chat nodes,
 * with four devices (Alice on node 0, Carol on node 1, Bob on both), each an SDK client (reconnect
 * with catch-up, outbox resending with the same clientMsgId). What the clients see is counted: error
 * frames and socket closes, as a user would see them.
 */

const PASSWORD = 'password-scale';

/** A WebSocket that counts the error frames and closes its client saw. */
function countingWebSocket(seen: FlowStats): typeof WebSocket {
  return class CountingWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      this.on('message', (data: Buffer) => {
        const text = data.toString();
        if (text.startsWith('{"type":"error"')) {
          const code = (JSON.parse(text) as { code: string }).code;
          seen.errors[code] = (seen.errors[code] ?? 0) + 1;
        }
      });
      this.on('close', (code: number) => { if (code !== 1000) seen.closes++; });
    }
  } as typeof WebSocket;
}

export interface FlowStats {
  /** Error frames received, by code (a retryable `unavailable` is resent by the SDK). */
  errors: Record<string, number>;
  /** Sockets closed by anything but the client itself. */
  closes: number;
}

export interface Device {
  name: string;
  client: ChatClient;
  /** Every message the app got, in order (`message` events). */
  messages: MessageView[];
  /** Messages the SDK placed by id after later ones (`lateMessage`: Redis lost its data mid-burst). */
  late: MessageView[];
}

export interface GroupFlow {
  conversationId: string;
  devices: Device[];
  stats: FlowStats;
  /** Every send acked so far, with the device that sent it. */
  acked: Array<{ from: Device; ack: SendAck }>;
  /** `n` sends from each device, all in flight at once; resolves when all are acked. */
  burst(n: number, label: string): Promise<void>;
  /** One send from the first device; resolves with its ack. */
  send(content: string): Promise<SendAck>;
  /**
   * Waits until every device got every acked message it should (all but its own sends), then checks:
   * each exactly once, and the `message` events of each device in id order.
   */
  expectDelivered(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function groupFlow(nodes: NodeProc[]): Promise<GroupFlow> {
  const stats: FlowStats = { errors: {}, closes: 0 };
  const WS = countingWebSocket(stats);
  const urls = nodes.map((n) => n.url);
  const devices: Device[] = [];
  const device = async (name: string, username: string, signup: boolean, node: NodeProc): Promise<Device> => {
    const client = new ChatClient({ baseUrl: urls, wsUrl: node.wsUrl, WebSocket: WS });
    if (signup) await client.signup(username, PASSWORD);
    await client.login(username, PASSWORD);
    const d: Device = { name, client, messages: [], late: [] };
    client.on('message', (m) => d.messages.push(m));
    client.on('lateMessage', (m) => d.late.push(m));
    devices.push(d);
    return d;
  };
  const [alice, bob, carol] = [uniqueName('alice'), uniqueName('bob'), uniqueName('carol')];
  const a = await device('alice@node0', alice, true, nodes[0]);
  const b0 = await device('bob@node0', bob, true, nodes[0]);
  await device('bob@node1', bob, false, nodes[1]);
  const c = await device('carol@node1', carol, true, nodes[1]);
  const group = await a.client.api.createGroup('scale', [b0.client.userId!, c.client.userId!]);
  for (const d of devices) {
    const { deviceId } = await d.client.api.registerDevice({ name: d.name });
    await d.client.connect(deviceId);
  }
  const acked: GroupFlow['acked'] = [];
  const sendFrom = async (from: Device, content: string) => {
    const ack = await from.client.send({ conversationId: group.conversationId, content });
    acked.push({ from, ack });
    return ack;
  };
  return {
    conversationId: group.conversationId,
    devices,
    stats,
    acked,
    burst: async (n, label) => {
      await Promise.all(devices.flatMap((d) => Array.from({ length: n }, (_, i) => sendFrom(d, `${label} ${d.name} ${i}`))));
    },
    send: (content) => sendFrom(a, content),
    expectDelivered: async (timeoutMs = 30000) => {
      const text = (d: Device) => d.messages.filter((m) => m.conversationId === group.conversationId && m.type === 'text');
      // The sending device has its ack; every other device (the sender's other one too) gets the message.
      const expected = (d: Device) => acked.filter((x) => x.from !== d).map((x) => x.ack.messageId);
      const deadline = Date.now() + timeoutMs;
      for (const d of devices) {
        while (text(d).length + d.late.length < expected(d).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      }
      for (const d of devices) {
        const got = [...text(d), ...d.late.filter((m) => m.type === 'text')].map((m) => m.messageId);
        expectExactlyOnce(got, expected(d));
        const ids = text(d).map((m) => BigInt(m.messageId));
        expect(ids.every((id, i) => i === 0 || id > ids[i - 1])).toBe(true);
      }
    },
    close: async () => {
      await Promise.all(devices.map((d) => d.client.disconnect()));
    },
  };
}

/**
 * Runs `fn` on a new group flow over the nodes, then disconnects its clients. A failure gets the
 * chat nodes' recent logs appended (a failover test's story is in them).
 */
export async function withGroupFlow(nodes: NodeProc[], fn: (flow: GroupFlow) => Promise<void>): Promise<void> {
  try {
    const flow = await groupFlow(nodes);
    try {
      await fn(flow);
    } finally {
      await flow.close();
    }
  } catch (err) {
    (err as Error).message += `\n--- node logs ---\n${nodes.map((n) => n.output().split('\n').slice(-60).join('\n')).join('\n---\n')}`;
    throw err;
  }
}

/** What the clients saw, for a test's `[scale]` line. */
export function seen(flow: GroupFlow): string {
  const late = flow.devices.reduce((n, d) => n + d.late.length, 0);
  return `client errors ${JSON.stringify(flow.stats.errors)}, socket closes ${flow.stats.closes}, late ${late}, ${flow.acked.length} acked`;
}

/** No error but the retryable `unavailable` (which the SDK resends), and every chat node still running. */
export function expectOnlyRetryableErrors(flow: GroupFlow, nodes: NodeProc[]): void {
  expect(Object.keys(flow.stats.errors).filter((code) => code !== 'unavailable')).toEqual([]);
  for (const node of nodes) expect(node.proc.exitCode).toBeNull();
}
