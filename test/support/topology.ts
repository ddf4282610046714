/**
 * The clustered topology of `npm run test:scale` (test/support/globalSetup.js, TEST_TOPOLOGY=scale),
 * and the failures the scale tests inflict on it: a Redis master killed, the whole Redis Cluster
 * restarted empty, Cassandra nodes killed and started again. Processes started here are recorded in
 * `adopted-pids`, which the global teardown kills.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const infra = require('../../scripts/lib/infra');

export interface ScaleTopology {
  redisPorts: number[];
  busPorts: number[];
  redisDir: string;
  nodeTimeoutMs: number;
  cassandraAddresses: string[];
  nativePort: number;
  storagePort: number;
  cassandraDir: string;
  clusterName: string;
  heapMb: number;
}

export function scaleTopology(): ScaleTopology {
  const t = JSON.parse(fs.readFileSync(String(process.env.TEST_TOPOLOGY_FILE), 'utf8')) as ScaleTopology & { topology: string };
  if (t.topology !== 'scale') throw new Error('these tests run on the clustered topology: npm run test:scale');
  return t;
}

function adopt(pid: number): void {
  fs.appendFileSync(path.join(path.dirname(String(process.env.TEST_TOPOLOGY_FILE)), 'adopted-pids'), `${pid}\n`);
}

function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 });
}

function redisAlive(port: number): boolean {
  try {
    return redisCli(port, 'ping').trim() === 'PONG';
  } catch {
    return false;
  }
}

/** The current masters, each with its replica's port: [{id, port, replicaPort}]. */
export function redisMasters(t = scaleTopology()): Array<{ id: string; port: number; replicaPort: number | null }> {
  const port = t.redisPorts.find(redisAlive);
  if (port === undefined) throw new Error('no Redis Cluster node answers');
  return infra.clusterMasters(port);
}

/** The Redis Cluster hash slot of a key (CRC16 of its hash tag, as Redis computes it). */
export function keySlot(key: string, t = scaleTopology()): number {
  return Number(redisCli(t.redisPorts.find(redisAlive)!, 'cluster', 'keyslot', key).trim());
}

/** The master serving `slot`, from CLUSTER NODES. */
export function masterOfSlot(slot: number, t = scaleTopology()): number {
  const nodes = redisCli(t.redisPorts.find(redisAlive)!, 'cluster', 'nodes').trim().split('\n');
  for (const line of nodes) {
    const parts = line.split(' ');
    if (!parts[2].includes('master') || parts[2].includes('fail')) continue;
    for (const range of parts.slice(8)) {
      const [from, to] = range.split('-').map(Number);
      if (slot >= from && slot <= (to ?? from)) return Number(parts[1].split('@')[0].split(':').pop());
    }
  }
  throw new Error(`no master serves slot ${slot}`);
}

/** The process id of the Redis node on `port`. */
export function redisPid(port: number): number {
  return Number(/process_id:(\d+)/.exec(redisCli(port, 'info', 'server'))![1]);
}

/** A crash of the Redis node on `port`: SIGKILL, no shutdown. */
export function killRedis(port: number): void {
  process.kill(redisPid(port), 'SIGKILL');
}

/** A key's value as the Redis node on `port` holds it (null: none), read there directly, not through the cluster. */
export function redisGet(port: number, key: string): string | null {
  const out = redisCli(port, '--no-raw', 'get', key).trim();
  return out === '(nil)' ? null : JSON.parse(out) as string;
}

/** The master on `port` drops its replicas' links (a replica that cannot reconnect gets nothing more from it). */
export function dropReplicaLinks(port: number): void {
  redisCli(port, 'client', 'kill', 'type', 'replica');
}

/** The replica on `port` takes its master's slots at once, without the master's agreement (CLUSTER FAILOVER TAKEOVER). */
export function takeOver(port: number): void {
  const out = redisCli(port, 'cluster', 'failover', 'takeover').trim();
  if (out !== 'OK') throw new Error(`CLUSTER FAILOVER TAKEOVER on ${port}: ${out}`);
}

/** Starts the node on `port` again on its cluster files: it rejoins (as a replica when its slots moved). */
export async function restartRedis(port: number, t = scaleTopology()): Promise<void> {
  const i = t.redisPorts.indexOf(port);
  const node = await infra.startClusterRedis({ dir: t.redisDir, port, busPort: t.busPorts[i], nodeTimeoutMs: t.nodeTimeoutMs });
  adopt(node.child.pid);
}

/** Waits until every slot has a master again and each master has a replica in sync. */
export async function redisClusterHealthy(t = scaleTopology(), timeoutMs = 30000): Promise<void> {
  await infra.waitFor('the Redis Cluster to be whole again', () => infra.clusterReady(t.redisPorts), { timeoutMs });
}

/** The whole Redis Cluster killed and created again, empty: a restart without its data. */
export async function restartRedisClusterEmpty(t = scaleTopology()): Promise<void> {
  for (const port of t.redisPorts) if (redisAlive(port)) killRedis(port);
  await infra.waitFor('the Redis nodes to exit', () => t.redisPorts.every((p) => !redisAlive(p)), { timeoutMs: 10000 });
  const cluster = await infra.startRedisCluster({ dir: t.redisDir, ports: t.redisPorts, busPorts: t.busPorts, nodeTimeoutMs: t.nodeTimeoutMs });
  for (const s of cluster.servers) adopt(s.child.pid);
}

function cassandraPid(address: string, t: ScaleTopology): number | null {
  const yaml = `file://${path.join(t.cassandraDir, address, 'cassandra.yaml')}`;
  try {
    const out = execFileSync('pgrep', ['-f', `cassandra.config=${yaml}`], { encoding: 'utf8' }).trim();
    return out ? Number(out.split('\n')[0]) : null;
  } catch {
    return null; // pgrep exits 1 when nothing matches
  }
}

/** A crash of the Cassandra node at `address`: SIGKILL (its commit log replays on restart). */
export async function killCassandra(address: string, t = scaleTopology()): Promise<void> {
  const pid = cassandraPid(address, t);
  if (pid === null) throw new Error(`no Cassandra runs at ${address}`);
  process.kill(pid, 'SIGKILL');
  await infra.waitFor(`Cassandra at ${address} to exit`, () => cassandraPid(address, t) === null, { timeoutMs: 10000 });
}

export function cassandraRunning(address: string, t = scaleTopology()): boolean {
  return cassandraPid(address, t) !== null;
}

/** Starts the node at `address` again on its data, and waits until every other node logs it UP again. */
export async function restartCassandra(address: string, t = scaleTopology()): Promise<void> {
  const others = t.cassandraAddresses.filter((a) => a !== address);
  const logOf = (a: string) => path.join(t.cassandraDir, a, 'log', 'system.log');
  const offsets = new Map(others.map((a) => [a, fs.existsSync(logOf(a)) ? fs.statSync(logOf(a)).size : 0]));
  const node = await infra.startCassandra({
    dir: path.join(t.cassandraDir, address), address, seeds: [t.cassandraAddresses[0]], joinAtOnce: true,
    nativePort: t.nativePort, storagePort: t.storagePort, clusterName: t.clusterName, heapMb: t.heapMb,
  });
  adopt(node.child.pid);
  await infra.waitFor(`the other Cassandra nodes to see ${address} UP`, () => others.every((a) => {
    const text = fs.readFileSync(logOf(a), 'utf8').slice(offsets.get(a));
    return text.includes(`/${address}:${t.storagePort} is now UP`);
  }), { timeoutMs: 60000 });
}
