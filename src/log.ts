import type { LogLevel } from './config/config';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(name: string): Logger;
}

function format(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.stack ?? v.message);
  return typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v);
}

/** One line per event on stderr: `time LEVEL [name] message key=value ...`. */
export function createLogger(level: LogLevel, name = 'chat'): Logger {
  const min = LEVELS[level];
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < min) return;
    const tail = fields ? Object.entries(fields).map(([k, v]) => ` ${k}=${format(v)}`).join('') : '';
    process.stderr.write(`${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} [${name}] ${msg}${tail}\n`);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (child) => createLogger(level, `${name}/${child}`),
  };
}
