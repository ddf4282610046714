import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/config';

export type { Logger } from 'pino';

/**
 * Fields that may carry a secret, at the top level or one object down: bearer tokens, passwords,
 * push tokens, Authorization headers. (Deeper wildcards make pino's redaction walk getters, which
 * throws on a Buffer.)
 */
const SECRET_KEYS = ['token', 'password', 'newPassword', 'currentPassword', 'pushToken', 'authorization', 'accessToken', 'metricsToken'];
const REDACT = [
  ...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`),
  'req.headers.authorization', 'headers.authorization', 'req.headers.cookie',
];

export interface LogOptions {
  /** The node's id, read on every line (null until the node's lease gives it one). */
  nodeId?: () => number | null;
  /** Named component of a tool that is not a node (the migration script). */
  name?: string;
  /** Where lines go; stderr by default. */
  destination?: DestinationStream;
}

/**
 * One JSON object per line on stderr (pino): level, time, msg, nodeId, and the call's fields.
 * Call as `log.info({ userId, err }, 'message')`. An Error in any field is written with its type,
 * message, stack and causes (pino's errWithCause serializer); a BigInt anywhere (message ids) is
 * written as a decimal string, not a number JSON readers would round. Child bindings are written
 * as given (pino formats them once, without this walk): bind strings (`child({ connId, userId })`).
 */
export function createLogger(level: LogLevel, options: LogOptions = {}): Logger {
  const { nodeId } = options;
  return pino({
    level,
    name: options.name,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
    // Errors and BigInts are handled in the log formatter below, at any depth.
    serializers: { err: passThrough },
    formatters: {
      level: (label) => ({ level: label }),
      bindings: (bindings) => plain(bindings, 0) as Record<string, unknown>,
      log: (fields) => plain(fields, 0) as Record<string, unknown>,
    },
    mixin: nodeId ? () => ({ nodeId: nodeId() }) : undefined,
  }, options.destination ?? pino.destination({ fd: 2, sync: true }));
}

const passThrough = (v: unknown): unknown => v;

/** The prototype of pino's serialized errors (plain data, walked like an object). */
const SERIALIZED_ERROR = Object.getPrototypeOf(pino.stdSerializers.errWithCause(new Error('probe'))) as object;
/** Nesting past this is cut (fields are small; a cycle must not loop). */
const MAX_DEPTH = 8;

/** JSON-safe copy of a log field: BigInt → string, Error → serialized error with causes, walked recursively. */
function plain(v: unknown, depth: number): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') return v;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (v instanceof Error) return plain(pino.stdSerializers.errWithCause(v), depth);
  if (Buffer.isBuffer(v)) return `[${v.length} bytes]`; // a frame's bytes: its size is what helps
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto !== Object.prototype && proto !== null && proto !== SERIALIZED_ERROR) return v; // Date, Buffer, Map...: as JSON writes them
  const out: Record<string, unknown> = {};
  // for...in: a serialized error's type, message and stack sit on its prototype.
  for (const k in v) out[k] = plain((v as Record<string, unknown>)[k], depth + 1);
  return out;
}
