'use strict';
/** The Markdown summary of a bench run (also put in docs/BENCHMARKS.md between the bench markers). */

const f = (v, unit = '') => (v === null || v === undefined ? '–' : `${v}${unit}`);
/** Sends answered with an error frame instead of an ack, with their codes ("0" when none). */
const refused = (m) => (m.failed ? `${m.failed} (${Object.entries(m.errors ?? {}).map(([k, n]) => `${k} ${n}`).join(', ')})` : '0');

function markdown(r) {
  const lines = [];
  lines.push(`Run ${r.date.slice(0, 16).replace('T', ' ')} UTC${r.quick ? ' (quick mode)' : ''} on ${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memoryGb} GiB;`
    + ` Node ${r.versions.node}, Cassandra ${r.versions.cassandra}, ${r.versions.redis.split(' ').slice(0, 3).join(' ')}, Socket.IO ${r.versions.socketio}.`
    + ` Each point: ${r.runsPerPoint} run(s) of ${r.measureSeconds} s after a 2 s warm-up, median shown. Everything (Cassandra, Redis, both nodes, the load generator) shares the 2 cores.`);
  lines.push('');
  lines.push('**1:1 across nodes, 1,000 devices over 2 nodes** (latency from send to delivery on the recipient device)');
  lines.push('');
  lines.push('| offered msg/s | system | p50 ms | p99 ms | max ms | delivered | lost | dup | refused | persisted | CPU % (node0/node1/cassandra/redis/loadgen) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const sys of ['ours', 'peer']) {
    for (const p of r[sys].rate ?? []) {
      const m = p.median;
      const c = m.cpuPercent ?? {};
      const persisted = sys === 'peer' ? 'stores nothing' : m.persisted ? `${m.persisted.stored}/${m.persisted.acked}` : '–';
      lines.push(`| ${p.rate} | ${sys === 'ours' ? 'streamchat' : 'Socket.IO + redis-streams-adapter'} | ${f(m.latency.p50)} | ${f(m.latency.p99)} | ${f(m.latency.max)} | ${m.delivered}/${m.expectedDeliveries} | ${m.lost} | ${m.duplicated} | ${refused(m)} | ${persisted} | ${[c.node0, c.node1, c.cassandra, c.redis, c.loadgen].map((x) => f(x)).join('/')} |`);
    }
  }
  const s = r.ours.sustained;
  if (s) {
    lines.push('');
    lines.push(`**Sustained**: ${s.offeredRate} msg/s for ${s.measuredSeconds} s: p50 ${f(s.latency.p50)} ms, p99 ${f(s.latency.p99)} ms, max ${f(s.latency.max)} ms; `
      + `delivered ${s.delivered}/${s.expectedDeliveries}, lost ${s.lost}, duplicated ${s.duplicated}, refused ${refused(s)}, persisted ${s.persisted ? `${s.persisted.stored}/${s.persisted.acked}` : '–'}.`);
  }
  lines.push('');
  lines.push('**Group fan-out** (groups spread over both nodes)');
  lines.push('');
  lines.push('| group size | groups | offered msg/s | system | deliveries/s | p50 ms | p99 ms | lost | dup | refused | persisted |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const sys of ['ours', 'peer']) {
    for (const g of r[sys].groups ?? []) {
      const m = g.median;
      const persisted = sys === 'peer' ? 'stores nothing' : m.persisted ? `${m.persisted.stored}/${m.persisted.acked}` : '–';
      lines.push(`| ${g.size} | ${g.groups} | ${g.rate} | ${sys === 'ours' ? 'streamchat' : 'Socket.IO'} | ${m.deliveriesPerSecond} | ${f(m.latency.p50)} | ${f(m.latency.p99)} | ${m.lost} | ${m.duplicated} | ${refused(m)} | ${persisted} |`);
    }
  }
  lines.push('');
  lines.push('**Idle connections on one node**');
  lines.push('');
  lines.push('| system | connections | connects/s | RSS before → after | per connection |');
  lines.push('|---|---|---|---|---|');
  for (const sys of ['ours', 'peer']) {
    const i = r[sys].idle;
    if (i) lines.push(`| ${sys === 'ours' ? 'streamchat' : 'Socket.IO'} | ${i.connections}${i.shedAndRetried ? ` (${i.shedAndRetried} shed with 503 and retried)` : ''}${i.failed ? ` (${i.failed} failed)` : ''} | ${i.connectsPerSecond} | ${i.rssBeforeMb} → ${i.rssAfterMb} MB | ${i.kbPerConnection} KB |`);
  }
  const h = r.ours.history;
  if (h) {
    lines.push('');
    lines.push(`**History reads** (50 per page, newest first) at ${h.readRate} req/s under ${h.writeRate} msg/s of writes: p50 ${f(h.reads.p50)} ms, p99 ${f(h.reads.p99)} ms, max ${f(h.reads.max)} ms (${h.reads.count} reads, ${h.readErrors} errors).`);
  }
  const st = r.ours.storm;
  if (st) {
    lines.push('');
    lines.push(`**Reconnect storm**: ${st.devices} devices dropped; each missed ${st.missedPerDevice} messages; all reconnected at once: connected in ${st.reconnectSeconds.toFixed(1)} s, `
      + `all caught up in ${st.caughtUpSeconds.toFixed(1)} s; delivered ${st.delivered}/${st.expectedDeliveries}, lost ${st.lost}, duplicated ${st.duplicated}, refused sends ${refused(st)}, failed reconnects ${st.failedReconnects}.`);
  }
  return lines.join('\n');
}

module.exports = { markdown };
