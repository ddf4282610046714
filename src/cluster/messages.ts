import { clusterMessage, legacyDeliverMessage, type ClusterMessage } from '../protocol/cluster';

/** Messages nodes send each other through their streams: declared in src/protocol/cluster.ts. */
export type { ClusterMessage, NodeDelivery } from '../protocol/cluster';

export function encode(m: ClusterMessage): string {
  return JSON.stringify(m);
}

/** Parses a stream entry; null for anything malformed (logged and acknowledged, never retried forever). */
export function decode(s: string): ClusterMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(s);
  } catch {
    return null;
  }
  const m = clusterMessage.safeParse(raw);
  if (m.success) return m.data;
  // An entry from a node of the previous version (one delivery per entry): read it as a batch of one.
  const single = legacyDeliverMessage.safeParse(raw);
  if (!single.success) return null;
  const { from, message, userIds, excludeDeviceId } = single.data;
  return { type: 'deliver', from, items: [{ message, userIds, excludeDeviceId }] };
}
