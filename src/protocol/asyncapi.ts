import { z } from 'zod';
import { CloseCodes } from './closeCodes';
import { ERROR_CODES } from './errors';
import { clientFrameSchemas, serverFrameSchemas, upgradeQuery } from './frames';

type Json = Record<string, unknown>;

const jsonSchema = (s: z.ZodType, io: 'input' | 'output'): Json => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  return rest;
};

/** Message keys in components: `typing` goes both ways, so each direction gets a prefix. */
export const clientMessageKey = (type: string) => `client.${type}`;
export const serverMessageKey = (type: string) => `server.${type}`;

/**
 * The AsyncAPI 3.0 document of the WebSocket protocol: every frame both ways, from the schemas in
 * src/protocol/frames.ts, and the close codes of src/protocol/closeCodes.ts.
 */
export function asyncApiDocument(limits: { maxContentChars: number }, info: { version: string }): Json {
  const client = clientFrameSchemas(limits);
  const messages: Record<string, Json> = {};
  const ref = (key: string) => ({ $ref: `#/components/messages/${key}` });
  for (const [type, s] of Object.entries(client)) {
    messages[clientMessageKey(type)] = { name: type, title: type, summary: s.description, contentType: 'application/json', payload: jsonSchema(s, 'input') };
  }
  for (const [type, s] of Object.entries(serverFrameSchemas)) {
    messages[serverMessageKey(type)] = { name: type, title: type, summary: s.description, contentType: 'application/json', payload: jsonSchema(s, 'output') };
  }
  const closeCodes = Object.values(CloseCodes).map((c) => ({ code: c.code, reason: c.reason }));
  const channelMessages = Object.fromEntries(Object.keys(messages).map((k) => [k, ref(k)]));
  const query = jsonSchema(upgradeQuery, 'input');
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'streamchat WebSocket protocol',
      version: info.version,
      description: 'One JSON object per text frame, discriminated by `type`. A refused frame gets an `error` frame and the socket stays usable.\n\n' +
        `Error codes: ${Object.entries(ERROR_CODES).map(([c, d]) => `\`${c}\` (${d})`).join('; ')}.\n\n` +
        `Close codes: ${closeCodes.map((c) => `${c.code} ${c.reason}`).join('; ')}. Reconnect after 1001, 1011, 1013 and 4008; not after 4001 or 4003 without new credentials.`,
    },
    servers: {
      node: { host: 'localhost:8080', protocol: 'ws', description: 'any node; GET /api/nodes/recommend names the least-loaded one' },
    },
    channels: {
      ws: {
        address: '/ws',
        title: 'a device connection',
        description: 'The upgrade is refused with an HTTP status and a JSON error body before any socket exists (401, 403, 400, 429, 503). ' +
          `Query: ${JSON.stringify(query)}`,
        messages: channelMessages,
        'x-close-codes': closeCodes,
        bindings: { ws: { method: 'GET', query } },
      },
    },
    operations: {
      receiveClientFrames: {
        action: 'receive',
        title: 'frames the server receives from a client',
        channel: { $ref: '#/channels/ws' },
        messages: Object.keys(client).map((t) => ({ $ref: `#/channels/ws/messages/${clientMessageKey(t)}` })),
      },
      sendServerFrames: {
        action: 'send',
        title: 'frames the server sends to a client',
        channel: { $ref: '#/channels/ws' },
        messages: Object.keys(serverFrameSchemas).map((t) => ({ $ref: `#/channels/ws/messages/${serverMessageKey(t)}` })),
      },
    },
    components: { messages },
  };
}
