import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type WebSocket from 'ws';
import { eventually, ROOT, type WsClient } from './helpers';

/** The bystander probes of the attack tests (limits-frames, limits-reads, fuzz): what they time and how they sum it up. */

/** A process's resident memory (MB), from /proc. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The nearest-rank 99th percentile. */
export function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(s.length * 0.99) - 1)];
}

export interface LatencySummary { acks: number; p50: number; p99: number; max: number }

export function summarize(ms: number[]): LatencySummary {
  const sorted = [...ms].sort((a, b) => a - b);
  return { acks: sorted.length, p50: sorted[Math.floor(sorted.length / 2)], p99: p99(sorted), max: sorted[sorted.length - 1] };
}

/**
 * Sends a message from `from` to `to` every `everyMs` until `until` settles, then waits for every
 * ack; returns each ack's latency (ms).
 */
export async function probeAcks(from: WsClient, to: string, everyMs: number, until: Promise<unknown>): Promise<number[]> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const onMessage = (d: WebSocket.RawData) => {
    const f = JSON.parse(d.toString());
    const t = f.type === 'message.ack' ? sentAt.get(f.clientMsgId) : undefined;
    if (t !== undefined) latencies.push(performance.now() - t);
  };
  from.ws.on('message', onMessage);
  let done = false;
  const stop = () => { done = true; };
  void until.then(stop, stop);
  const prefix = `probe-${Math.random().toString(36).slice(2, 8)}`;
  for (let i = 0; !done; i++) {
    const id = `${prefix}-${i}`;
    sentAt.set(id, performance.now());
    from.send({ type: 'message.send', clientMsgId: id, to, content: `probe ${i}` });
    await new Promise((r) => setTimeout(r, everyMs));
  }
  await eventually(() => latencies.length === sentAt.size, 10000);
  from.ws.off('message', onMessage);
  return latencies;
}

/**
 * Runs an attacker script (test/support/*Attacker.js) in a process of its own, so the test process
 * that times the bystander does not also carry the attack. ATTACK is its JSON config. `line(text)`
 * resolves once it has printed that line; `done` with the JSON line it prints last, read on
 * 'close' (on 'exit' that line may still be in the pipe).
 */
export function runAttacker<T>(script: string, config: object): { line(text: string): Promise<void>; done: Promise<T> } {
  const proc = spawn(process.execPath, [path.join(ROOT, 'test', 'support', script)], {
    cwd: ROOT,
    env: { ...process.env, ATTACK: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const waiting = new Map<string, () => void>();
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const l of out.split('\n')) waiting.get(l)?.();
  });
  const done = new Promise<T>((resolve, reject) => proc.on('close', (code) => {
    const result = out.split('\n').find((l) => l.startsWith('{'));
    if (code === 0 && result) resolve(JSON.parse(result) as T);
    else reject(new Error(`${script} exited ${code}: ${out}`));
  }));
  return {
    line: (text) => (out.split('\n').includes(text) ? Promise.resolve() : new Promise<void>((r) => waiting.set(text, r))),
    done,
  };
}
