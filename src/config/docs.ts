import { CONFIG_KEY_INFO, type ConfigKey } from './keys';

/**
 * The files generated from the declaration in schema.ts: docs/CONFIG.md's configuration table (between
 * marker comments) and app.properties. `npm run docs:config` writes them; test/unit/configDocs.test.ts
 * fails when they differ from what this renders.
 */

export const CONFIG_TABLE_START = '<!-- config-table:start (generated from src/config/schema.ts by `npm run docs:config`; do not edit) -->';
export const CONFIG_TABLE_END = '<!-- config-table:end -->';

/** The value as a properties file writes it. */
function raw(value: unknown): string {
  if (value === null || value === undefined) return '';
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** The values a key may take, where its type says more than its doc. */
function choices(k: ConfigKey): readonly string[] | undefined {
  return k.values ?? (k.type === 'boolean' ? ['true', 'false'] : undefined);
}

function range(k: ConfigKey): string {
  return k.minimum !== undefined && k.maximum !== undefined ? `${k.minimum}..${k.maximum}` : '';
}

const cell = (s: string) => s.replace(/\|/g, '\\|');
const code = (s: string) => (s === '' ? '*(empty)*' : `\`${s}\``);

export function renderConfigTable(keys: readonly ConfigKey[] = CONFIG_KEY_INFO): string {
  const rows = keys.map((k) => {
    const values = choices(k)?.map((v) => `\`${v}\``).join(', ') ?? range(k);
    return `| \`${k.key}\` | ${code(raw(k.default))} | ${cell(values)} | ${cell(k.doc)} |`;
  });
  return ['| key | default | values | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** Replaces what lies between the config-table markers; throws if they are missing. */
export function withConfigTable(doc: string, table = renderConfigTable()): string {
  const start = doc.indexOf(CONFIG_TABLE_START);
  const end = doc.indexOf(CONFIG_TABLE_END);
  if (start < 0 || end < start) throw new Error('docs/CONFIG.md lacks the config-table markers');
  return `${doc.slice(0, start + CONFIG_TABLE_START.length)}\n${table}\n${doc.slice(end)}`;
}

/** Splits a doc into `# ` comment lines of at most about 100 characters. */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line.length + word.length + 1 > 100 && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

export function renderProperties(keys: readonly ConfigKey[] = CONFIG_KEY_INFO): string {
  const out = [
    '# streamchat node configuration, generated from src/config/schema.ts by `npm run docs:config`: edit',
    '# the declaration there, not this file. Every key can be overridden by an environment variable:',
    '# CHAT_ + the key in upper snake case (redis.url -> CHAT_REDIS_URL, auth.bcryptRounds -> CHAT_AUTH_BCRYPT_ROUNDS);',
    '# CHAT_CONFIG_FILE points at another properties file. The port is the node\'s command-line argument.',
  ];
  let section = '';
  for (const k of keys) {
    const s = k.key.split('.')[0];
    if (s !== section) out.push('');
    section = s;
    const values = choices(k)?.join(', ') ?? range(k);
    out.push(...comment(values ? `${k.doc} (${values})` : k.doc), `${k.key}=${raw(k.default)}`);
  }
  return `${out.join('\n')}\n`;
}
