import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_KEYS, envName, parseConfig, readRaw } from '../../src/config/config';
import { CONFIG_TABLE_END, CONFIG_TABLE_START, renderConfigTable, renderProperties } from '../../src/config/docs';
import { CONFIG_KEY_INFO } from '../../src/config/keys';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const FIX = 'run `npm run docs:config` after changing src/config/schema.ts';

describe('the files generated from the config declaration', () => {
  it(`docs/CONFIG.md's configuration table is the declaration's (${FIX})`, () => {
    const doc = read('docs/CONFIG.md');
    const start = doc.indexOf(CONFIG_TABLE_START);
    const end = doc.indexOf(CONFIG_TABLE_END);
    expect(start).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(start);
    expect(doc.slice(start + CONFIG_TABLE_START.length, end).trim()).toBe(renderConfigTable());
  });

  it(`app.properties is the declaration's (${FIX})`, () => {
    expect(read('app.properties')).toBe(renderProperties());
  });

  it('app.properties lists exactly the declared keys, and its values are the defaults', () => {
    const raw = readRaw(path.join(ROOT, 'app.properties'), {}, []);
    expect(Object.keys(raw).sort()).toEqual([...CONFIG_KEYS].sort());
    expect(parseConfig(raw)).toEqual(parseConfig({}));
  });

  it('every config key in the docs/LIMITS.md table is declared', () => {
    const section = read('docs/LIMITS.md');
    const rows = section.slice(0, section.indexOf('\n\n', section.indexOf('| limit |'))).split('\n').filter((l) => l.startsWith('| '));
    const keys = rows.slice(2).flatMap((row) => [...(row.split('|')[3] ?? '').matchAll(/`([a-z][A-Za-z]*\.[A-Za-z]+)`/g)].map((m) => m[1]));
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((k) => !CONFIG_KEYS.includes(k))).toEqual([]);
  });
});

describe('environment variables', () => {
  it('are distinct per key', () => {
    const names = CONFIG_KEY_INFO.map((k) => k.env);
    expect(new Set(names).size).toBe(names.length);
    for (const k of CONFIG_KEY_INFO) expect(k.env).toBe(envName(k.key));
  });

  // A variable for a key that no longer exists would be ignored without a word.
  it('set by the tests, bench and scripts all name declared keys', () => {
    const files = (dir: string): string[] => fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : /\.(ts|js|sh)$/.test(e.name) ? [path.join(dir, e.name)] : []);
    const used = new Set(['test', 'bench', 'scripts'].flatMap(files).flatMap((f) => read(f).match(/\bCHAT_[A-Z][A-Z0-9_]*/g) ?? []));
    used.delete('CHAT_CONFIG_FILE');
    const declared = new Set(CONFIG_KEY_INFO.map((k) => k.env));
    expect([...used].filter((name) => !declared.has(name))).toEqual([]);
    expect(used.size).toBeGreaterThan(20);
  });
});
