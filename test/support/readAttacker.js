'use strict';
/**
 * Heavy REST reads from a process of their own (test/e2e/limits-reads.test.ts), so the test
 * process that times the bystander does not also parse the responses.
 * ATTACK = JSON {base, token, paths, parallel, everyMs, attackMs}: every `everyMs` a wave of
 * `parallel` requests at once (the paths in turn), until attackMs passed. Prints "open" at the
 * start, the status counts at the end.
 */
const { base, token, paths, parallel, everyMs, attackMs } = JSON.parse(process.env.ATTACK);
const statuses = {};
process.stdout.write('open\n');
const end = Date.now() + attackMs;
const waves = [];
(async () => {
  while (Date.now() < end) {
    waves.push(Promise.all(Array.from({ length: parallel }, async (_, i) => {
      const res = await fetch(base + paths[i % paths.length], { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    })));
    await new Promise((r) => setTimeout(r, everyMs));
  }
  await Promise.all(waves);
})().then(() => {
  process.stdout.write(JSON.stringify(statuses) + '\n');
  process.exit(0);
}, (err) => {
  process.stderr.write(`attacker: ${err}\n`);
  process.exit(1);
});
