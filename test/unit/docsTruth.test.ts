import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Keys } from '../../src/store/redis/keys';

/**
 * What the documents name must exist: every repository path they mention, and every Redis key of
 * docs/ARCHITECTURE.md's key table (and every key src/store/redis/keys.ts makes is in that table).
 */
const ROOT = path.resolve(__dirname, '..', '..');
const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

describe('the documents name what exists', () => {
  it.each(DOCS)('every repository path %s mentions exists', (doc) => {
    // A path of one of the tree's top folders, not a placeholder (`<date>`, `NNN_*`) and not a unit ("ops/s").
    const paths = [...read(doc).matchAll(/(?<![\w/.-])((?:src|test|docs|scripts|bench|client|web|ops|cql)\/[A-Za-z0-9_./<>*-]*[A-Za-z0-9_*>])/g)]
      .map((m) => m[1]).filter((p) => !/[<>*]|NNN/.test(p) && p !== 'ops/s');
    expect(paths.filter((p) => !existsSync(path.join(ROOT, p)))).toEqual([]);
  });

  it("docs/ARCHITECTURE.md's Redis key table is exactly the keys src/store/redis/keys.ts makes", () => {
    // Each key the code makes, its arguments as placeholders: `{u:<userId>}routes`.
    const k = new Keys('');
    const made = new Set([
      k.node(0), k.nodes(), k.routes('U'), k.stream(0), k.streamTrimmed(0), k.clientMsg('C', 'U', 'M'), k.presence('U'), k.nodeUsers('I'),
      k.sweep('I'), k.typing('U', 'C'), k.load(), k.picks(0), k.pushJobs(), k.pushDeadLetter(), k.pushThrottle('D', 'C'), k.groupVersion('C'),
      k.blocks('U'), k.blocksGeneration('U'), k.activeConversations('U'), k.activeConversationsGeneration('U'), k.sequence('C'), k.sequenceLinks('C'),
      k.deviceSlots('U'), k.connSlots('U'), k.token('T'), k.tokenGeneration('U'), k.keyLayout(),
    ].map((key) => key.replace(/\b0\b/g, 'N')));
    // Every method is listed above (a new key must be documented, then added here).
    const methods = Object.getOwnPropertyNames(Keys.prototype).filter((m) => !['constructor', 'user', 'conversation', 'nodeTag', 'registry'].includes(m));
    expect(methods.length).toBe(made.size + 1); // groupCreations is a rate-limiter prefix (its keys are rate-limiter-flexible's)

    const doc = read('docs/ARCHITECTURE.md');
    const table = doc.slice(doc.indexOf('| key | type | content | lifetime |'));
    const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2);
    const placeholder: Record<string, string> = { userId: 'U', conversationId: 'C', clientMsgId: 'M', deviceId: 'D', nodeId: 'N', id: 'N',
      'nodeId/<instance': 'I', 'sha256(token)': 'T' };
    const documented = rows.flatMap((row) => [...row.split(' | ')[0].matchAll(/`([^`]+)`/g)].map((m) => m[1]
      .replace('<nodeId>/<instance>', 'I').replace(/<([^>]+)>/g, (_, name: string) => placeholder[name] ?? `<${name}>`)));
    // Rate-limiter and migration-lock keys are documented too; they are not made by Keys.
    const others = documented.filter((key) => !made.has(key));
    expect(others.every((key) => /^(rl[:-]|migrate-lock:)/.test(key))).toBe(true);
    expect([...made].filter((key) => !documented.includes(key))).toEqual([]);
  });
});
