import type { Logger } from '../log';

/** What a device is sent (also the webhook's JSON body). */
export interface Notification {
  deviceId: string;
  pushToken: string;
  title: string;
  body: string;
  conversationId: string;
  messageId: string;
}

/** A push provider: resolves when the notification was accepted, throws to have it retried. */
export interface PushProvider {
  readonly name: string;
  send(n: Notification): Promise<void>;
}

/** The default: writes the notification to the log (development, or no push service). */
export class LogProvider implements PushProvider {
  readonly name = 'log';
  constructor(private readonly log: Logger) {}
  async send(n: Notification): Promise<void> {
    this.log.info({ deviceId: n.deviceId, conversationId: n.conversationId, messageId: n.messageId, title: n.title }, 'push notification');
  }
}

/** POSTs the notification as JSON to a URL; any non-2xx answer or network error counts as a failure. */
export class WebhookProvider implements PushProvider {
  readonly name = 'webhook';
  constructor(private readonly url: string, private readonly timeoutMs = 5000) {}
  async send(n: Notification): Promise<void> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(n),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
  }
}
