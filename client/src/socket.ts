/**
 * The part of the WebSocket API the client uses: the browser's `WebSocket`, Node 22's global one,
 * and the `ws` package (Node 20) all have it.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // Handlers get the standard events: `message` has `data`, `close` has `code` and `reason`.
  // (`never` parameters let every implementation's own event types fit.)
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `readyState` of an open socket (the same in every implementation). */
export const OPEN = 1;

export interface MessageEventLike { data: unknown }
export interface CloseEventLike { code: number; reason: string }

/** The global WebSocket where there is one (browsers, Node 22+). */
export function globalWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}
