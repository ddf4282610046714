import net from 'node:net';

/** A TCP proxy on 127.0.0.1 (ephemeral port) to `target` whose path can stall. */
export interface StallingProxy {
  port: number;
  /**
   * Stops passing bytes either way, on open connections and new ones, without closing anything:
   * a network path that stalls (what a node then sees of its database is requests that never end).
   */
  stall(): void;
  /**
   * Passes bytes again, those held meanwhile first: requests that timed out on the node's side
   * still reach the database, late (as after a long network stall).
   */
  unstall(): void;
  close(): Promise<void>;
}

export async function stallingProxy(target: { host: string; port: number }): Promise<StallingProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let stalled = false;
  const flow = ([client, upstream]: [net.Socket, net.Socket]) => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      s.on('error', () => undefined);
      s.on('close', () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    if (stalled) return; // never read: nothing passes
    flow(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stall: () => {
      stalled = true;
      for (const pair of pairs) {
        for (const s of pair) {
          s.unpipe();
          s.pause();
        }
      }
    },
    unstall: () => {
      if (!stalled) return; // piping twice would pass every byte twice
      stalled = false;
      for (const pair of pairs) flow(pair); // pipe() resumes the paused sockets
    },
    close: async () => {
      for (const pair of pairs) for (const s of pair) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
