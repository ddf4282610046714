/**
 * One chat node: `node dist/main.js <port>`. Redis and Cassandra come from app.properties
 * (or CHAT_* variables); several processes on different ports form a cluster.
 */
import { ConfigError, loadConfig } from './config/config';
import { createLogger, type Logger } from './log';
import { startNode, type ChatNode } from './node';

// Every line carries the node's id once its lease gives it one (null before). Until the config
// is read, the level is info; then it is log.level.
let nodeId: number | null = null;
let log: Logger = createLogger('info', { nodeId: () => nodeId });

function parsePort(arg: string | undefined): number {
  if (arg === undefined || !/^\d{1,5}$/.test(arg) || Number(arg) > 65535) {
    log.fatal({ arg: arg ?? null }, 'usage: node dist/main.js <port>   (0..65535; 0 picks a free port)');
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
      log.fatal({ key: err.key }, err.message);
      process.exit(2);
    }
    throw err;
  }
  log = createLogger(config.log.level, { nodeId: () => nodeId });
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
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  node = await startNode(config, port, log, (reason) => {
    log.error({ reason }, 'fatal');
    shutdown(1);
  }, (id) => { nodeId = id; });
  if (exiting) await node.stop();
}

main().catch((err) => {
  log.fatal({ err }, 'failed to start');
  process.exit(1);
});
