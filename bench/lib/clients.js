'use strict';
/**
 * Client adapters for the load generator: ours (REST + WebSocket, the public contract) and the peer
 * (Socket.IO). Both expose the same small surface: connect a device, send to a user or a group,
 * and call `onMessage(clientMsgId, deviceKey)` for every delivered message.
 *
 * Ours uses the client SDK (@streamchat/client, client/) for set-up (signup, login, devices,
 * groups), which happens outside the measured windows. The measured paths stay raw:
 * - connect: the SDK asks /api/nodes/recommend before every connect and the scenarios place
 *   devices on given nodes (and the idle and storm scenarios measure connects per second);
 * - send/receive: the SDK paces a connection's frames (100/s by default), queues sends in its
 *   outbox and batches confirmations, which would add its own queueing to the latency measured at
 *   the offered rate (a bench sender writes up to hundreds of frames per second on one socket);
 * - history reads (`request`, a keep-alive agent): their latency is the measurement.
 */
const { ChatClient } = require('@streamchat/client');
const WebSocket = require('ws');
const { io: ioClient } = require('socket.io-client');
const http = require('node:http');

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** JSON over HTTP with a keep-alive agent; resolves {status, body}. */
function request(base, method, path, { token, body } = {}) {
  const url = new URL(path, base);
  const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method, agent,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Runs `fn` over items with at most `limit` in flight. */
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

const runId = Math.random().toString(36).slice(2, 8);

/** Ours: users through signup/login, devices through POST /api/devices, sockets on /ws. */
class OursClient {
  constructor(nodes) {
    this.nodes = nodes; // [{url, wsUrl}]
    this.name = 'ours';
  }

  /** `count` users, each with `devicesPerUser` devices. */
  async users(count, devicesPerUser = 1, prefix = 'u') {
    return pool(Array.from({ length: count }, (_, i) => i), 32, async (i) => {
      const sdk = new ChatClient({ baseUrl: this.nodes[i % this.nodes.length].url });
      const username = `b${runId}${prefix}${i}`;
      const password = 'bench-password';
      const { userId } = await sdk.signup(username, password);
      const { token } = await sdk.login(username, password);
      const devices = [];
      for (let d = 0; d < devicesPerUser; d++) devices.push((await sdk.api.registerDevice({ name: `d${d}` })).deviceId);
      return { userId, token, devices };
    });
  }

  async group(owner, members, name) {
    const sdk = new ChatClient({ baseUrl: this.nodes[0].url, token: owner.token });
    return (await sdk.api.createGroup(name, members.map((m) => m.userId))).conversationId;
  }

  /** The user's conversations, as the SDK lists them (set-up). */
  async conversations(user) {
    return new ChatClient({ baseUrl: this.nodes[0].url, token: user.token }).api.conversations();
  }

  /**
   * Connects a device; resolves once its catch-up is complete. `onMessage(clientMsgId, messageId)`
   * gets every delivery; `onAck(frame)` every ack or error.
   */
  connect(user, deviceIndex, nodeIndex, { onMessage, onAck, localAddress } = {}) {
    const deviceId = user.devices[deviceIndex];
    const ws = new WebSocket(`${this.nodes[nodeIndex].wsUrl}?token=${user.token}&deviceId=${deviceId}`, { perMessageDeflate: false, localAddress });
    const conn = {
      key: deviceId, ws, lastId: null, caughtUp: 0,
      send(target, clientMsgId, content) {
        ws.send(JSON.stringify({ type: 'message.send', clientMsgId, ...(target.group ? { conversationId: target.group } : { to: target.userId }), content }));
      },
      /** Confirms the newest message received so far (clients do this periodically). */
      confirm() {
        if (conn.lastId && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'message.received', messageId: conn.lastId }));
      },
      close() { ws.terminate(); },
    };
    return new Promise((resolve, reject) => {
      ws.on('message', (data) => {
        const f = JSON.parse(data);
        if (f.type === 'message.new') {
          conn.lastId = f.message.messageId;
          onMessage?.(f.message.content.slice(0, f.message.content.indexOf('|')), deviceId);
        } else if (f.type === 'message.ack' || f.type === 'error') {
          onAck?.(f);
        } else if (f.type === 'sync.complete') {
          conn.caughtUp = f.count;
          resolve(conn);
        }
      });
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
    });
  }
}

/** The peer: Socket.IO 4 + Redis Streams adapter; a user is a room, a group is a room. Persists nothing. */
class PeerClient {
  constructor(nodes) {
    this.nodes = nodes;
    this.name = 'peer';
  }

  async users(count, devicesPerUser = 1, prefix = 'u') {
    return Array.from({ length: count }, (_, i) => ({
      userId: `${runId}${prefix}${i}`, devices: Array.from({ length: devicesPerUser }, (_, d) => `${runId}${prefix}${i}d${d}`), groups: [],
    }));
  }

  async group(owner, members, name) {
    const id = `${runId}-${name}`;
    for (const m of [owner, ...members]) m.groups.push(id);
    return id;
  }

  connect(user, deviceIndex, nodeIndex, { onMessage, onAck } = {}) {
    const deviceId = user.devices[deviceIndex];
    const socket = ioClient(this.nodes[nodeIndex].url, {
      transports: ['websocket'], reconnection: false, forceNew: true,
      query: { userId: user.userId, groups: user.groups.join(',') },
    });
    const conn = {
      key: deviceId, socket, caughtUp: 0,
      send(target, clientMsgId, content) {
        socket.emit('send', { to: target.userId, group: target.group, clientMsgId, content }, (ack) => onAck?.({ type: 'message.ack', clientMsgId, messageId: ack.messageId }));
      },
      confirm() {},
      close() { socket.disconnect(); },
    };
    return new Promise((resolve, reject) => {
      socket.on('new', (m) => onMessage?.(m.content.slice(0, m.content.indexOf('|')), deviceId));
      socket.once('connect', () => resolve(conn));
      socket.once('connect_error', reject);
    });
  }
}

module.exports = { OursClient, PeerClient, request, pool };
