import net from 'node:net';

/** A TCP proxy on 127.0.0.1 (ephemeral port) to `target` whose path can stall. */
export interface StallingProxy {
  port: number;
  /**
   * Stops passing bytes either way, on open connections and new ones, without closing anything:
   * a network path that stalls (what a node then sees of its database is requests that never end).
   */
  stall(): void;
  close(): Promise<void>;
}

export async function stallingProxy(target: { host: string; port: number }): Promise<StallingProxy> {
  const open = new Set<net.Socket>();
  let stalled = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        open.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    if (stalled) return; // never read: nothing passes
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stall: () => {
      stalled = true;
      for (const s of open) {
        s.unpipe();
        s.pause();
      }
    },
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
