import IORedis, { type ClientContext, type Cluster, type Redis, type Result } from 'ioredis';

/**
 * Every Lua script the nodes run, in one place. `defineScripts` registers them with ioredis
 * defineCommand (once per process, see there): each is then one method (`redis.leaseClaim(...)`,
 * also on pipelines) that sends EVALSHA and loads the script once if Redis does not have it (after a
 * restart too). The module augmentation below types each method.
 */

/** Marker member of a loaded conversation-count copy (ConversationQuota); its score is when the copy was loaded. */
export const QUOTA_LOADED = '.';
/** Marker member of a loaded block-list copy (BlockCopies): a set without it is not loaded. */
export const BLOCKS_LOADED = '.';
/** The hash field that says a device-slot hash was filled from Cassandra (DeviceSlots; it is not a device). */
export const DEVICE_SLOTS_LOADED = '~';


// ---- NodeLease ----

const leaseClaim = `
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('sadd', KEYS[2], ARGV[3])
  return 1
end
return 0`;

/** Refreshes the lease only while it is still ours (compare-and-expire). */
const leaseRefresh = `
local cur = redis.call('get', KEYS[1])
if not cur then return 0 end
if cjson.decode(cur).instance ~= ARGV[2] then return -1 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1`;

const leaseRelease = `
local cur = redis.call('get', KEYS[1])
if cur and cjson.decode(cur).instance == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`;


// ---- Discovery ----

/**
 * Picks the live node with the lowest load and counts the pick at once, so a burst of clients
 * asking together spreads over the nodes instead of all landing on the one that looked emptiest.
 * KEYS[1] load zset, then per candidate node its lease key and its picks key (all in the `{nodes}`
 * slot); ARGV[1] pick TTL (ms), ARGV[2..] the candidates' node ids, in KEYS order. A loaded node
 * that is not a candidate (its lease is gone) is dropped from the load. Returns the node's info
 * JSON, or nil.
 */
const recommendNode = `
local t = redis.call('time')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local slot = {}
for i = 2, #ARGV do slot[ARGV[i]] = i - 1 end
local nodes = redis.call('zrange', KEYS[1], 0, -1)
for _, id in ipairs(nodes) do
  local k = slot[id]
  local info = k and redis.call('get', KEYS[2 * k])
  if info then
    redis.call('zincrby', KEYS[1], 1, id)
    local picks = KEYS[2 * k + 1]
    redis.call('zadd', picks, now, t[1] .. '.' .. t[2] .. '.' .. redis.call('zcard', picks))
    redis.call('pexpire', picks, ARGV[1])
    return info
  end
  if not k then redis.call('zrem', KEYS[1], id) end
end
return nil`;

/**
 * A node's load is its real connection count plus the recommendations of it still pending: a
 * report that counted connections alone would forget the picks of clients that have not connected
 * yet (a reconnect storm would then all land on the node that reported last).
 */
const loadReport = `
local t = redis.call('time')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('zremrangebyscore', KEYS[2], '-inf', now - tonumber(ARGV[3]))
return redis.call('zadd', KEYS[1], tonumber(ARGV[1]) + redis.call('zcard', KEYS[2]), ARGV[2])`;


// ---- RouteRegistry ----

/** Deletes the field only if it still names this instance (a newer connection elsewhere keeps its route). */
const routeUnregister = `
if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('hdel', KEYS[1], ARGV[1]) end
return 0`;


// ---- ConnectionSlots ----

/**
 * Counts the user's other devices and takes the slot of this one in one step: parallel upgrades on
 * any nodes cannot all see "19". The device's own field does not count (its reconnect replaces it).
 */
const connectionSlotReserve = `
local n = 0
local fields = redis.call('hkeys', KEYS[1])
for i = 1, #fields do if fields[i] ~= ARGV[1] then n = n + 1 end end
if n >= tonumber(ARGV[3]) then return 0 end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('expire', KEYS[1], ARGV[4])
return 1`;

/** Deletes each (field, value) pair of a hash whose value is unchanged (compare-and-delete); returns how many went. KEYS[1] hash, ARGV field, value, …. */
const hdelIfUnchanged = `
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('hget', KEYS[1], ARGV[i]) == ARGV[i + 1] then n = n + redis.call('hdel', KEYS[1], ARGV[i]) end
end
return n`;


// ---- DeviceSlots ----

/** 1 = reserved, 0 = full, -1 = not loaded (Redis lost it, or never had it): load from Cassandra first. */
const deviceSlotReserve = `
if redis.call('exists', KEYS[1]) == 0 then return -1 end
if redis.call('hlen', KEYS[1]) - 1 >= tonumber(ARGV[1]) then return 0 end
redis.call('hset', KEYS[1], ARGV[2], ARGV[3])
return 1`;

/** Fills the hash from Cassandra's device list, unless another request did already. */
const deviceSlotsLoad = `
if redis.call('exists', KEYS[1]) == 1 then return 0 end
redis.call('hset', KEYS[1], '${DEVICE_SLOTS_LOADED}', '1')
for i = 2, #ARGV do redis.call('hset', KEYS[1], ARGV[i], ARGV[1]) end
return 1`;


// ---- ConversationSequence ----

/**
 * KEYS: sequence, links, group version, then one clientMsgId claim key per request that has one.
 * ARGV: ttl, links kept, claim ttl, conversation id, then per request: id, index of its claim key (0: none).
 * A request whose clientMsgId is claimed already (or earlier in the batch) is answered with the claim
 * and not placed. The others are placed if the first of them is above the last id placed, and their
 * claims are taken. Decimal ids compare as numbers: by length, then as text (Lua numbers lose
 * precision past 2^53).
 */
const sequencePlace = `
local n = (#ARGV - 4) / 2
local out, toplace, fresh = {}, {}, {}
for i = 1, n do
  local id, k = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
  local earlier = false
  if k > 0 then earlier = fresh[KEYS[k]] or redis.call('get', KEYS[k]) end
  if earlier then out[i] = earlier else
    out[i] = ''
    toplace[#toplace + 1] = i
    if k > 0 then fresh[KEYS[k]] = id .. '|' .. ARGV[4] end
  end
end
local last = redis.call('get', KEYS[1])
if #toplace > 0 then
  local first = ARGV[3 + 2 * toplace[1]]
  if last and (#first < #last or (#first == #last and first <= last)) then return {0, last} end
  local prev = last or ''
  for _, i in ipairs(toplace) do
    local id, k = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
    redis.call('lpush', KEYS[2], id .. ':' .. prev)
    prev = id
    if k > 0 then redis.call('set', KEYS[k], id .. '|' .. ARGV[4], 'EX', ARGV[3]) end
  end
  redis.call('ltrim', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  redis.call('set', KEYS[1], prev, 'EX', ARGV[1])
  redis.call('expire', KEYS[2], ARGV[1])
end
return {1, last or '', redis.call('get', KEYS[3]) or '', unpack(out)}`;

const sequenceVoid = `
redis.call('lpush', KEYS[1], 'v:' .. ARGV[3])
redis.call('ltrim', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('expire', KEYS[1], ARGV[1])
return 1`;


// ---- ClientMessageClaims ----

/** Replaces (or, with an empty new value, deletes) the claim only if it still holds the expected value. */
const claimSwap = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('del', KEYS[1]) else redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return 1`;


// ---- GroupVersions, token generations ----

/** Sets a number only if it is higher: racing raises (membership changes, revocations) can never move it back. */
const setIfHigher = `
local cur = tonumber(redis.call('get', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > cur then redis.call('set', KEYS[1], ARGV[1]) return 1 end
return 0`;


// ---- ConversationQuota ----

/**
 * Reserves a conversation for one user, atomically against the cap (parallel creates on any nodes
 * cannot pass it). One user per call, so the key stays in that user's slot; ConversationQuota makes
 * several users all-or-none by giving back what it took. KEYS[1] the user's set; ARGV[1] cap,
 * ARGV[2] now (ms), ARGV[3] reload after (ms), ARGV[4] key TTL (s), ARGV[5] the conversation.
 * Returns 1 reserved, 2 held already (costs nothing), 0 at the cap, -1 the set must be loaded first.
 */
const quotaReserve = `
local now = tonumber(ARGV[2])
local loaded = redis.call('zscore', KEYS[1], '${QUOTA_LOADED}')
if not loaded or tonumber(loaded) < now - tonumber(ARGV[3]) then return -1 end
redis.call('expire', KEYS[1], ARGV[4])
if redis.call('zscore', KEYS[1], ARGV[5]) then return 2 end
if redis.call('zcard', KEYS[1]) - 1 >= tonumber(ARGV[1]) then return 0 end
redis.call('zadd', KEYS[1], now, ARGV[5])
return 1`;

/**
 * Replaces a user's set with their active conversations as read from Cassandra, keeping the
 * reservations made in the last IN_FLIGHT_MS (not necessarily written yet), unless a leave ran
 * since the read began (the generation moved; the read may list it). KEYS[1] set, KEYS[2]
 * generation; ARGV[1] generation seen, ARGV[2] now, ARGV[3] keep reservations after (ms), ARGV[4]
 * TTL, ARGV[5..] conversation ids.
 */
const quotaFill = `
if (redis.call('get', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
local recent = redis.call('zrangebyscore', KEYS[1], '(' .. ARGV[3], '+inf', 'WITHSCORES')
redis.call('del', KEYS[1])
for i = 5, #ARGV do redis.call('zadd', KEYS[1], 0, ARGV[i]) end
for i = 1, #recent, 2 do
  if recent[i] ~= '${QUOTA_LOADED}' then redis.call('zadd', KEYS[1], recent[i + 1], recent[i]) end
end
redis.call('zadd', KEYS[1], ARGV[2], '${QUOTA_LOADED}')
redis.call('expire', KEYS[1], ARGV[4])
return 1`;

/** A leave (or a create that failed): gives the slot back. KEYS[1] set, KEYS[2] generation; ARGV[1] conversation, ARGV[2] TTL. */
const quotaRelease = `
redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[2])
redis.call('zrem', KEYS[1], ARGV[1])
return 1`;


// ---- BlockCopies ----

/**
 * Stores a copy read from Cassandra unless a block or unblock ran since the read began (its
 * generation moved): then the copy may be stale and is dropped, and the next check loads again.
 * KEYS[1] set, KEYS[2] generation; ARGV[1] generation seen before the read, ARGV[2] TTL, ARGV[3..] blocked ids.
 */
const blocksFill = `
if (redis.call('get', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('del', KEYS[1])
redis.call('sadd', KEYS[1], '${BLOCKS_LOADED}')
for i = 3, #ARGV do redis.call('sadd', KEYS[1], ARGV[i]) end
redis.call('expire', KEYS[1], ARGV[2])
return 1`;

/** After Cassandra changed: raise the generation and drop the copy. KEYS[1] set, KEYS[2] generation; ARGV[1] generation TTL. */
const blocksInvalidate = `
redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[1])
redis.call('del', KEYS[1])
return 1`;


// ---- PresenceService ----

/**
 * Recomputes a user's status from their routes, counting only devices on a live node instance
 * (pruning the rest), and records it if it changed. Atomic: when several nodes react to the same
 * change, exactly one sees it as a change, so exactly one event goes out.
 * The caller says which node instances ("nodeId/instance") are live and which it knows are dead, as
 * read from the lease keys (another slot, so not read here). A route on an instance that is neither
 * (a node newer than the caller's view) makes the script change nothing and return {-1, those
 * instances}: the caller reads the leases again and retries, so a live route is never pruned.
 * KEYS[1] routes, KEYS[2] presence (one user's slot); ARGV[1] now (ms), ARGV[2] number of live
 * instances, then the live ones, then the dead ones. Returns {changed (0|1), status, at}.
 */
const presenceUpdate = `
local state = {}
local nlive = tonumber(ARGV[2])
for i = 3, #ARGV do state[ARGV[i]] = (i <= 2 + nlive) end
local entries = redis.call('hgetall', KEYS[1])
local live, dead, unknown = 0, {}, {-1}
for i = 1, #entries, 2 do
  local s = state[entries[i + 1]]
  if s == true then live = live + 1
  elseif s == false then dead[#dead + 1] = entries[i]
  else unknown[#unknown + 1] = entries[i + 1] end
end
if #unknown > 1 then return unknown end
for _, dev in ipairs(dead) do redis.call('hdel', KEYS[1], dev) end
local status = 'offline'
if live > 0 then status = 'online' end
local old = redis.call('hget', KEYS[2], 'status')
if old == status then return {0, status, redis.call('hget', KEYS[2], 'at') or ''} end
redis.call('hset', KEYS[2], 'status', status, 'at', ARGV[1])
if status == 'offline' then redis.call('expire', KEYS[2], 604800) else redis.call('persist', KEYS[2]) end
return {1, status, ARGV[1]}`;


// ---- migrations (src/store/migrate.ts) ----

/** Deletes the migration lock only if it still holds this process's token. */
const lockRelease = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`;


/** Each script with its number of keys (none: the call passes it first, for scripts over a variable number of keys). */
const SCRIPTS: ReadonlyArray<{ name: keyof ScriptCommands<ClientContext>; lua: string; numberOfKeys?: number }> = [
  { name: 'leaseClaim', lua: leaseClaim, numberOfKeys: 2 },
  { name: 'leaseRefresh', lua: leaseRefresh, numberOfKeys: 1 },
  { name: 'leaseRelease', lua: leaseRelease, numberOfKeys: 1 },
  { name: 'recommendNode', lua: recommendNode },
  { name: 'loadReport', lua: loadReport, numberOfKeys: 2 },
  { name: 'routeUnregister', lua: routeUnregister, numberOfKeys: 1 },
  { name: 'connectionSlotReserve', lua: connectionSlotReserve, numberOfKeys: 1 },
  { name: 'hdelIfUnchanged', lua: hdelIfUnchanged, numberOfKeys: 1 },
  { name: 'deviceSlotReserve', lua: deviceSlotReserve, numberOfKeys: 1 },
  { name: 'deviceSlotsLoad', lua: deviceSlotsLoad, numberOfKeys: 1 },
  { name: 'sequencePlace', lua: sequencePlace },
  { name: 'sequenceVoid', lua: sequenceVoid, numberOfKeys: 1 },
  { name: 'claimSwap', lua: claimSwap, numberOfKeys: 1 },
  { name: 'setIfHigher', lua: setIfHigher, numberOfKeys: 1 },
  { name: 'quotaReserve', lua: quotaReserve, numberOfKeys: 1 },
  { name: 'quotaFill', lua: quotaFill, numberOfKeys: 2 },
  { name: 'quotaRelease', lua: quotaRelease, numberOfKeys: 2 },
  { name: 'blocksFill', lua: blocksFill, numberOfKeys: 2 },
  { name: 'blocksInvalidate', lua: blocksInvalidate, numberOfKeys: 2 },
  { name: 'presenceUpdate', lua: presenceUpdate, numberOfKeys: 2 },
  { name: 'lockRelease', lua: lockRelease, numberOfKeys: 1 },
];

/**
 * The scripts whose keys are counted at call time (first argument). ioredis' Cluster cannot route
 * these through auto-pipelining (it reads the slot from a fixed key position), so they are sent on
 * their own; all of their keys share one slot.
 */
export const VARIABLE_KEY_SCRIPTS: readonly string[] = SCRIPTS.filter((s) => s.numberOfKeys === undefined).map((s) => s.name);

/**
 * Makes every script a method of every ioredis client and pipeline (idempotent; returns `redis`).
 * The methods come from ioredis defineCommand, run once per process on a client that never connects,
 * and are put on the prototype that clients, clusters and pipelines share. Why not defineCommand on
 * each client: ioredis then copies each defined script onto every Pipeline the client makes, and with
 * auto-pipelining each event-loop turn's commands are one Pipeline: 21 scripts cost 10 µs a pipeline
 * (2.5 µs without), about 4 points of a node's CPU at 1,000 msg/s and twice the minor GC. The method
 * still sends EVAL the first time on a connection, EVALSHA after, and reloads on NOSCRIPT.
 */
export function defineScripts<T extends Redis | Cluster>(redis: T): T {
  if (!installed) {
    const donor = new IORedis({ lazyConnect: true });
    const shared = Object.getPrototypeOf(IORedis.prototype) as Record<string, unknown>;
    for (const s of SCRIPTS) {
      donor.defineCommand(s.name, s.numberOfKeys === undefined ? { lua: s.lua } : { lua: s.lua, numberOfKeys: s.numberOfKeys });
      const own = donor as unknown as Record<string, unknown>;
      shared[s.name] = own[s.name];
      shared[`${s.name}Buffer`] = own[`${s.name}Buffer`];
    }
    donor.disconnect();
    installed = true;
  }
  return redis;
}
let installed = false;

/** The scripts' signatures: keys first, then arguments, as the scripts read them. */
interface ScriptCommands<Context extends ClientContext> {
  leaseClaim(nodeKey: string, nodesKey: string, info: string, ttlSeconds: number, nodeId: number): Result<number, Context>;
  leaseRefresh(nodeKey: string, info: string, instance: string, ttlSeconds: number): Result<number, Context>;
  leaseRelease(nodeKey: string, instance: string): Result<number, Context>;
  recommendNode(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Result<string | null, Context>;
  loadReport(loadKey: string, picksKey: string, connections: number, nodeId: string, pickTtlMs: number): Result<number, Context>;
  routeUnregister(routesKey: string, deviceId: string, value: string): Result<number, Context>;
  connectionSlotReserve(slotsKey: string, deviceId: string, slot: string, max: number, ttlSeconds: number): Result<number, Context>;
  hdelIfUnchanged(hashKey: string, ...fieldsAndValues: string[]): Result<number, Context>;
  deviceSlotReserve(slotsKey: string, max: number, deviceId: string, now: number): Result<number, Context>;
  deviceSlotsLoad(slotsKey: string, at: string, ...deviceIds: string[]): Result<number, Context>;
  sequencePlace(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Result<[number, string, string?, ...string[]], Context>;
  sequenceVoid(linksKey: string, ttlSeconds: number, linksKept: number, id: string): Result<number, Context>;
  claimSwap(claimKey: string, expected: string, next: string, ttlSeconds: number): Result<number, Context>;
  setIfHigher(key: string, value: string): Result<number, Context>;
  quotaReserve(setKey: string, cap: number, now: number, reloadAfterMs: number, ttlSeconds: number, conversationId: string): Result<number, Context>;
  quotaFill(setKey: string, generationKey: string, generationSeen: string, now: number, inFlightSince: number, ttlSeconds: number, ...conversationIds: string[]): Result<number, Context>;
  quotaRelease(setKey: string, generationKey: string, conversationId: string, ttlSeconds: number): Result<number, Context>;
  blocksFill(setKey: string, generationKey: string, generationSeen: string, ttlSeconds: number, ...blockedIds: string[]): Result<number, Context>;
  blocksInvalidate(setKey: string, generationKey: string, ttlSeconds: number): Result<number, Context>;
  presenceUpdate(routesKey: string, presenceKey: string, now: number, liveCount: number, ...instances: string[]): Result<Array<number | string>, Context>;
  lockRelease(lockKey: string, token: string): Result<number, Context>;
}

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> extends ScriptCommands<Context> {}
}
