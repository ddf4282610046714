import { z } from 'zod';
import { ConfigSchema } from './schema';

/** What the loader and the generated docs need to know about one key, read off its declaration. */
export interface ConfigKey {
  /** `cassandra.contactPoints` */
  key: string;
  /** `CHAT_CASSANDRA_CONTACT_POINTS` */
  env: string;
  /** How the raw string is read: a list is comma-separated. */
  type: 'string' | 'integer' | 'boolean' | 'list';
  default: unknown;
  doc: string;
  minimum?: number;
  maximum?: number;
  /** The allowed values of an enum. */
  values?: readonly string[];
}

/** `cassandra.contactPoints` → `CHAT_CASSANDRA_CONTACT_POINTS`. */
export function envName(key: string): string {
  return 'CHAT_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

/** The part of JSON Schema that z.toJSONSchema writes for our leaves. */
interface JsonSchema {
  /** ['string', 'null'] for a nullable plain string. */
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  enum?: string[];
}

function keyOf(key: string, node: JsonSchema): ConfigKey {
  // A nullable key comes as anyOf [T, null], or as type [T, 'null'] for a plain string.
  const branches = node.anyOf ?? [node];
  const nonNull = branches.flatMap((b) => [b.type ?? []].flat()).filter((t) => t !== 'null');
  const s = branches.find((b) => b.type !== 'null') ?? node;
  if (nonNull.length !== 1) throw new Error(`config ${key}: a key has one type`);
  const type = nonNull[0] === 'array' ? 'list' : nonNull[0];
  if (type !== 'string' && type !== 'integer' && type !== 'boolean' && type !== 'list') {
    throw new Error(`config ${key}: type ${type} cannot be read from a properties file`);
  }
  if (!node.description) throw new Error(`config ${key}: every key needs a doc (.describe())`);
  if (!('default' in node)) throw new Error(`config ${key}: every key needs a default`);
  return {
    key, env: envName(key), type, default: node.default, doc: node.description,
    minimum: s.minimum, maximum: s.maximum, values: s.enum,
  };
}

function walk(prefix: string, node: JsonSchema, out: ConfigKey[]): ConfigKey[] {
  if (node.type === 'object' && node.properties) {
    for (const [name, child] of Object.entries(node.properties)) walk(prefix ? `${prefix}.${name}` : name, child, out);
  } else {
    out.push(keyOf(prefix, node));
  }
  return out;
}

/** Every declared key, in declaration order. */
export const CONFIG_KEY_INFO: readonly ConfigKey[] = Object.freeze(
  walk('', z.toJSONSchema(ConfigSchema) as JsonSchema, []).map((k) => Object.freeze(k)));

export const CONFIG_KEYS: readonly string[] = Object.freeze(CONFIG_KEY_INFO.map((k) => k.key));
