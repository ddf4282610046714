import IORedis, { type ClientContext, type Result } from 'ioredis';

/**
 * How the Lua scripts are run. Each script lives beside the code that calls it: the module defines
 * it with `defineScripts` when it loads, and declares its signature on ioredis' RedisCommander next to
 * it (keys first, then arguments, as the script reads them). Each is then one method of every client
 * and pipeline (`redis.leaseClaim(...)`) that sends EVALSHA and loads the script once if Redis does
 * not have it (after a restart too). The general-purpose scripts that several stores share are here.
 */
export interface ScriptDefinition {
  lua: string;
  /** How many leading arguments are keys; 'variable': the call passes that count first. */
  keys: number | 'variable';
}

/**
 * The scripts whose keys are counted at call time. ioredis' Cluster cannot route these through
 * auto-pipelining (it takes the slot from the first argument, here the count), so they are sent on
 * their own; all of their keys share one slot. createRedis hands ioredis this very array, which it
 * reads on every call, so a script defined after a client was made is covered too.
 */
export const VARIABLE_KEY_SCRIPTS: string[] = [];

const defined = new Map<string, string>();

/**
 * Makes each script a method of every ioredis client, cluster and pipeline, from now on.
 * The methods come from ioredis defineCommand, run on a client that never connects, and are put on
 * the prototype that clients, clusters and pipelines share. Why not defineCommand on each client:
 * ioredis then copies each defined script onto every Pipeline the client makes, and with
 * auto-pipelining each event-loop turn's commands are one Pipeline: 21 scripts cost 10 µs a pipeline
 * (2.5 µs without), about 4 points of a node's CPU at 1,000 msg/s and twice the minor GC. The method
 * still sends EVAL the first time on a connection, EVALSHA after, and reloads on NOSCRIPT.
 */
export function defineScripts(scripts: Record<string, ScriptDefinition>): void {
  const donor = new IORedis({ lazyConnect: true });
  const shared = Object.getPrototypeOf(IORedis.prototype) as Record<string, unknown>;
  const own = donor as unknown as Record<string, unknown>;
  for (const [name, s] of Object.entries(scripts)) {
    const earlier = defined.get(name);
    if (earlier === s.lua) continue;
    // Two modules must not define one name: one caller would run the other's script.
    if (earlier !== undefined) throw new Error(`Redis script ${name} is defined twice`);
    donor.defineCommand(name, s.keys === 'variable' ? { lua: s.lua } : { lua: s.lua, numberOfKeys: s.keys });
    shared[name] = own[name];
    shared[`${name}Buffer`] = own[`${name}Buffer`];
    defined.set(name, s.lua);
    if (s.keys === 'variable') VARIABLE_KEY_SCRIPTS.push(name);
  }
  donor.disconnect();
}

defineScripts({
  /** Sets a number only if it is higher: racing raises (membership changes, revocations) can never move it back. */
  setIfHigher: { keys: 1, lua: `
local cur = tonumber(redis.call('get', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > cur then redis.call('set', KEYS[1], ARGV[1]) return 1 end
return 0` },
  /** Deletes each (field, value) pair of a hash whose value is unchanged (compare-and-delete); returns how many went. KEYS[1] hash, ARGV field, value, …. */
  hdelIfUnchanged: { keys: 1, lua: `
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('hget', KEYS[1], ARGV[i]) == ARGV[i + 1] then n = n + redis.call('hdel', KEYS[1], ARGV[i]) end
end
return n` },
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    setIfHigher(key: string, value: string): Result<number, Context>;
    hdelIfUnchanged(hashKey: string, ...fieldsAndValues: string[]): Result<number, Context>;
  }
}
