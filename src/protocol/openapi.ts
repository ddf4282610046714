import { z } from 'zod';
import { ERROR_CODES, errorBody, type ProtocolErrorCode } from './errors';
import { ROUTES, type RouteDoc } from './rest';

type Json = Record<string, unknown>;

const schema = (s: z.ZodType): Json => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Json;
  return rest;
};
const output = (s: z.ZodType): Json => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io: 'output', unrepresentable: 'any' }) as Json;
  return rest;
};

/** Codes every route can get besides its own: the service failing, and (with a token) the token and per-user checks. */
function errorsOf(r: RouteDoc): ProtocolErrorCode[] {
  const codes = new Set<ProtocolErrorCode>(r.errors);
  if (r.auth) codes.add('unauthorized').add('rate_limited');
  if (r.body) codes.add('invalid_request');
  codes.add('unavailable');
  return [...codes];
}

function parameters(where: 'path' | 'query', s: z.ZodObject | undefined): Json[] {
  if (!s) return [];
  const json = schema(s) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, p]) => {
    const { description, ...rest } = p;
    return { name, in: where, required: where === 'path' || (json.required ?? []).includes(name), schema: rest, ...(description ? { description } : {}) };
  });
}

/**
 * The OpenAPI 3.1 document of the REST API, from the route table and schemas in src/protocol/rest.ts.
 * `statusOf` is the one mapping of error codes to HTTP statuses (src/http/errors.ts).
 */
export function openApiDocument(statusOf: (code: ProtocolErrorCode) => number, info: { version: string }): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of ROUTES) {
    const responses: Record<string, Json> = {
      [String(r.status)]: r.response
        ? { description: r.summary, content: { 'application/json': { schema: output(r.response) } } }
        : { description: r.summary },
    };
    const byStatus = new Map<number, ProtocolErrorCode[]>();
    for (const code of errorsOf(r)) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
    for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
      responses[String(status)] = {
        description: codes.map((c) => `\`${c}\`: ${ERROR_CODES[c]}`).join('; '),
        'x-error-codes': codes,
        ...(status === 429 ? { headers: { 'Retry-After': { description: 'seconds until the same request may pass', schema: { type: 'integer' } } } } : {}),
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    const op: Json = {
      operationId: `${r.method}${r.path.replace(/[{}]/g, '').split(/[/.-]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}`,
      summary: r.summary,
      security: r.auth ? [{ bearer: [] }] : [],
      parameters: [...parameters('path', r.params), ...parameters('query', r.query)],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(r.body) } } } } : {}),
      responses,
    };
    (paths[r.path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'streamchat REST API',
      version: info.version,
      description: 'Every error is `{"error":{"code","message"}}`; the code is stable, the message is for people. ' +
        'The WebSocket protocol is described in /api/asyncapi.json.',
    },
    paths,
    components: {
      schemas: { Error: output(errorBody) },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token from POST /api/auth/login' } },
    },
  };
}
