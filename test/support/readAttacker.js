'use strict';
/**
 * Waves of REST reads from a process of their own (test/e2e/limits-reads.test.ts), so the test
 * process that times the bystander does not also parse the responses.
 * ATTACK = JSON {base, token, kinds, parallel, everyMs, attackMs}: every `everyMs` a wave of
 * `parallel` requests at once (each kind: a list of paths, used in turn within its wave), until
 * attackMs passed. Two kinds take turns in the order A B B A A B B A ...: a load that drifts with
 * time (a node warming up, Cassandra working off earlier writes) then weighs on both alike.
 * Prints "open" at the start; at the end, one JSON line
 * {statuses: {kind: {status: count}}, waves: [[startedAt (epoch ms), kind], ...]}.
 */
const { base, token, kinds, parallel, everyMs, attackMs } = JSON.parse(process.env.ATTACK);
const names = Object.keys(kinds);
const statuses = Object.fromEntries(names.map((k) => [k, {}]));
const started = [];
process.stdout.write('open\n');
const end = Date.now() + attackMs;
const waves = [];
(async () => {
  for (let w = 0; Date.now() < end; w++) {
    const kind = names.length === 2 ? names[(w + Math.floor(w / 2)) % 2] : names[w % names.length];
    const paths = kinds[kind];
    started.push([Date.now(), kind]);
    waves.push(Promise.all(Array.from({ length: parallel }, async (_, i) => {
      const res = await fetch(base + paths[i % paths.length], { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      statuses[kind][res.status] = (statuses[kind][res.status] ?? 0) + 1;
    })));
    await new Promise((r) => setTimeout(r, everyMs));
  }
  await Promise.all(waves);
})().then(() => {
  process.stdout.write(JSON.stringify({ statuses, waves: started }) + '\n');
  process.exit(0);
}, (err) => {
  process.stderr.write(`attacker: ${err}\n`);
  process.exit(1);
});
