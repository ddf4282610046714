'use strict';
/**
 * The peer users would otherwise pick: Socket.IO 4 with @socket.io/redis-streams-adapter, one
 * process per node on the same Redis. Each user joins a room of its own (and its groups' rooms); a
 * message is emitted to the recipient's room and acked to the sender. It stores nothing.
 *   node bench/peer/server.js <port> <redisUrl>
 */
const http = require('node:http');
const { Server } = require('socket.io');
const { Redis } = require('ioredis');
const { createAdapter } = require('@socket.io/redis-streams-adapter');

const port = Number(process.argv[2]);
const redis = new Redis(process.argv[3] ?? 'redis://127.0.0.1:6379');
const server = http.createServer();
const io = new Server(server, { adapter: createAdapter(redis, { streamName: `bench-peer-${process.argv[4] ?? 'x'}` }), transports: ['websocket'] });
let seq = 0;

io.on('connection', (socket) => {
  const { userId, groups } = socket.handshake.query;
  socket.join(`u:${userId}`);
  for (const g of String(groups || '').split(',').filter(Boolean)) socket.join(`g:${g}`);
  socket.on('send', (m, ack) => {
    const messageId = `${port}-${++seq}`;
    const payload = { messageId, senderId: userId, content: m.content };
    if (m.group) socket.to(`g:${m.group}`).emit('new', payload);
    else io.to(`u:${m.to}`).emit('new', payload);
    if (typeof ack === 'function') ack({ messageId });
  });
});

server.listen(port, '127.0.0.1', () => process.stderr.write(`peer listening on ${port}\n`));
const stop = () => { io.close(); redis.quit().finally(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
