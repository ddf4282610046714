import fs from 'node:fs';
import path from 'node:path';
import { propertiesReader } from 'properties-reader';
import type { z } from 'zod';
import { CONFIG_KEY_INFO, CONFIG_KEYS, envName, type ConfigKey } from './keys';
import { ConfigSchema, type Config } from './schema';

export type { Config, Consistency, LogLevel } from './schema';
export { CONFIG_KEYS, envName } from './keys';

export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`config ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Raw = Record<string, string>;

/** Reads raw string values: the properties file first, then any CHAT_* environment overrides. */
export function readRaw(file: string | null, env: NodeJS.ProcessEnv, keys: readonly string[]): Raw {
  const raw: Raw = {};
  if (file) {
    const props = propertiesReader({ sourceFile: file }).getAllProperties();
    for (const [k, v] of Object.entries(props)) raw[k] = String(v).trim();
  }
  for (const key of keys) {
    const v = env[envName(key)];
    if (v !== undefined) raw[key] = v.trim();
  }
  return raw;
}

const BY_KEY = new Map(CONFIG_KEY_INFO.map((k) => [k.key, k]));

/** A raw string as its key's type; undefined (empty or unset) lets the declared default apply. */
function coerce(k: ConfigKey, v: string | undefined): unknown {
  if (v === undefined || v === '') return undefined;
  switch (k.type) {
    case 'string': return v;
    case 'integer':
      if (!/^-?\d+$/.test(v)) throw new ConfigError(k.key, `"${v}" is not an integer`);
      return Number(v);
    case 'boolean':
      if (v !== 'true' && v !== 'false') throw new ConfigError(k.key, `"${v}" is not true or false`);
      return v === 'true';
    case 'list': return v.split(',').map((x) => x.trim()).filter(Boolean);
  }
}

/** One zod issue in the words the loader has always used. */
function toConfigError(issue: z.core.$ZodIssue): ConfigError {
  const key = issue.path.filter((p) => typeof p === 'string').join('.');
  const k = BY_KEY.get(key);
  const input = 'input' in issue ? issue.input : undefined;
  switch (issue.code) {
    case 'too_small':
    case 'too_big':
      if (issue.origin === 'array') return new ConfigError(key, 'needs at least one value');
      return new ConfigError(key, `${String(input)} is outside ${k?.minimum}..${k?.maximum}`);
    case 'invalid_value':
      return new ConfigError(key, `"${String(input)}" is not one of ${issue.values.join(', ')}`);
    case 'invalid_format':
      return new ConfigError(key, `"${String(input)}" does not match ${issue.format === 'regex' ? issue.pattern : issue.format}`);
    default:
      return new ConfigError(key, issue.message);
  }
}

/** Builds and validates a Config from raw values; throws ConfigError naming the first bad key. */
export function parseConfig(raw: Raw): Config {
  const unknown = Object.keys(raw).find((key) => !BY_KEY.has(key));
  if (unknown !== undefined) throw new ConfigError(unknown, 'is not a known key');
  const input: Record<string, Record<string, unknown>> = {};
  for (const k of CONFIG_KEY_INFO) {
    const [section, field] = k.key.split('.');
    (input[section] ??= {})[field] = coerce(k, raw[k.key]);
  }
  const result = ConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) throw toConfigError(result.error.issues[0]);
  return deepFreeze(result.data);
}

/** The properties file: CHAT_CONFIG_FILE, else app.properties at the project root. */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.CHAT_CONFIG_FILE) return env.CHAT_CONFIG_FILE;
  const file = path.resolve(__dirname, '..', '..', 'app.properties');
  return fs.existsSync(file) ? file : null;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, file: string | null = defaultConfigFile(env)): Config {
  if (file !== null && !fs.existsSync(file)) throw new ConfigError('CHAT_CONFIG_FILE', `${file} does not exist`);
  return parseConfig(readRaw(file, env, CONFIG_KEYS));
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}
