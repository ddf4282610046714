'use strict';
/**
 * Attack sockets in a process of their own (test/e2e/limits-frames.test.ts): masking 600 KB frames
 * (the client's job) would otherwise load the test process that times the bystander.
 * ATTACK = JSON {url, token, devices, quietMs, attackMs, everyMs}. Prints "open" once every socket is
 * open, waits quietMs (the test times its bystander without the attack then), prints "attack", attacks
 * for attackMs, then prints the counts as one JSON line.
 */
const WebSocket = require('ws');

const { url, token, devices, quietMs, attackMs, everyMs } = JSON.parse(process.env.ATTACK);
// ~600 KB each: nested arrays (60-85 ms to JSON.parse), unclosed nesting, and a flat large non-send.
const bufs = [
  '['.repeat(300000) + ']'.repeat(300000),
  '['.repeat(600000),
  JSON.stringify({ type: 'typing', conversationId: 'd_x_y', pad: Array(290000).fill(0) }),
].map((p) => Buffer.from(p));
const out = { sent: 0, invalid: 0, other: 0, closed: 0 };
const sockets = devices.map((d) => new WebSocket(`${url}?token=${encodeURIComponent(token)}&deviceId=${d}`));
for (const ws of sockets) {
  ws.on('message', (m) => {
    const f = JSON.parse(m.toString());
    if (f.type === 'error') out[f.code === 'invalid_frame' ? 'invalid' : 'other']++;
  });
  ws.on('close', () => out.closed++);
}
Promise.all(sockets.map((ws) => new Promise((resolve, reject) => {
  ws.once('open', resolve);
  ws.once('error', reject);
}))).then(async () => {
  process.stdout.write('open\n');
  await new Promise((r) => setTimeout(r, quietMs));
  process.stdout.write('attack\n');
  const end = Date.now() + attackMs;
  for (let i = 0; Date.now() < end; i++) {
    for (const ws of sockets) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      // As text: a Buffer goes out as a binary frame, which the node refuses before any parsing.
      ws.send(bufs[i % bufs.length], { binary: false });
      out.sent++;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  await new Promise((r) => setTimeout(r, 1000)); // the last replies
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}, (err) => {
  process.stderr.write(`attacker: ${err}\n`);
  process.exit(1);
});
