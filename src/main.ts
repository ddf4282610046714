/**
 * One chat node: `node dist/main.js <port>`. Redis and Cassandra come from app.properties
 * (or CHAT_* variables); several processes on different ports form a cluster.
 */
import { ConfigError, loadConfig } from './config/config';
import { createLogger } from './log';
import { startNode, type ChatNode } from './node';

function parsePort(arg: string | undefined): number {
  if (arg === undefined || !/^\d{1,5}$/.test(arg) || Number(arg) > 65535) {
    process.stderr.write('usage: node dist/main.js <port>   (0..65535; 0 picks a free port)\n');
    process.exit(2);
  }
  return Number(arg);
}

async function main(): Promise<void> {
  const port = parsePort(process.argv[2]);
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.log.level);
  let node: ChatNode | null = null;
  let exiting = false;
  const shutdown = (code: number) => {
    if (exiting) {
      log.warn('second signal: exiting now');
      process.exit(1);
    }
    exiting = true;
    const done = node ? node.stop() : Promise.resolve();
    done.then(() => process.exit(code), (err) => {
      log.error('shutdown failed', { err });
      process.exit(1);
    });
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  node = await startNode(config, port, log, (reason) => {
    log.error('fatal', { reason });
    shutdown(1);
  });
  if (exiting) await node.stop();
}

main().catch((err) => {
  process.stderr.write(`failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
