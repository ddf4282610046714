import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Parser } from '@asyncapi/parser';
import type { Express } from 'express';
import { createHttpApp } from '../../src/http/app';
import { errorStatus } from '../../src/http/errors';
import { asyncApiDocument, clientMessageKey, serverMessageKey } from '../../src/protocol/asyncapi';
import { ERROR_CODES } from '../../src/protocol/errors';
import { clientFrameSchemas, serverFrameSchemas } from '../../src/protocol/frames';
import { openApiDocument } from '../../src/protocol/openapi';
import { CloseCodes } from '../../src/ws/closeCodes';

/**
 * /api/openapi.json and /api/asyncapi.json: valid against their specifications, and in agreement
 * with the code (the express routes, the frames ClientConnection handles and the server sends).
 */
const info = { version: '0.0.0' };
const openapi = openApiDocument(errorStatus, info) as { paths: Record<string, Record<string, { responses: Record<string, { 'x-error-codes'?: string[] }> }>> };
const asyncapi = asyncApiDocument({ maxContentChars: 1000 }, info) as {
  info: { description: string };
  components: { messages: Record<string, { name: string }> };
  operations: Record<string, { action: string; messages: Array<{ $ref: string }> }>;
};
const ROOT = path.join(__dirname, '..', '..');

/** Routes that are not part of the client API, mounted by other parts of the node. */
const NOT_DOCUMENTED = new Set(['GET /metrics']);

/** method + path of every route the app registers (express 5 keeps a layer's mount path in rawPath). */
function registeredRoutes(app: Express): string[] {
  interface Layer { rawPath?: string; route?: { path: string; methods: Record<string, boolean> }; handle: { stack?: Layer[] } }
  const out: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const l of stack) {
      if (l.route) {
        for (const m of Object.keys(l.route.methods)) out.push(`${m.toUpperCase()} ${(prefix + l.route.path).replace(/\/$/, '') || '/'}`);
      } else if (l.handle.stack) {
        walk(l.handle.stack, prefix + (l.rawPath === '/' ? '' : l.rawPath ?? ''));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return [...new Set(out)].sort();
}

describe('protocol documents', () => {
  it('the OpenAPI document is valid OpenAPI 3.1', () => {
    const out = execFileSync(process.execPath, [path.join(ROOT, 'test/support/validateOpenApi.mjs')], { input: JSON.stringify(openapi) });
    expect(JSON.parse(out.toString())).toEqual({ valid: true, errors: null, version: undefined });
    expect((openapi as unknown as { openapi: string }).openapi).toBe('3.1.0');
  });

  it('the AsyncAPI document is valid AsyncAPI 3.0', async () => {
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(asyncapi));
    expect(diagnostics.filter((d) => d.severity === 0)).toEqual([]);
    expect(document?.version()).toBe('3.0.0');
  });

  it('lists exactly the routes the express app registers', () => {
    // The routers only hold these until a request comes: nothing here is called.
    const unused = {} as never;
    const app = createHttpApp({
      auth: unused, blocks: unused, devices: unused, conversations: unused, groups: unused, sync: unused, presence: unused,
      discovery: unused, health: unused, log: unused, limits: { perUser: () => undefined } as never,
      maxGroupMembers: 100, maxContentChars: 1000, trustProxy: false, corsOrigins: [], metrics: { metrics: unused, token: null },
    });
    const registered = registeredRoutes(app).filter((r) => !NOT_DOCUMENTED.has(r));
    const documented = Object.entries(openapi.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`)).sort();
    expect(documented).toEqual(registered);
  });

  it('documents every error code, with the status the server answers it with', () => {
    const codes = Object.keys(ERROR_CODES);
    for (const code of codes) expect(asyncapi.info.description).toContain(`\`${code}\``);
    const documented = new Map<string, Set<string>>();
    for (const ops of Object.values(openapi.paths)) {
      for (const op of Object.values(ops)) {
        for (const [status, r] of Object.entries(op.responses)) for (const c of r['x-error-codes'] ?? []) (documented.get(c) ?? documented.set(c, new Set()).get(c)!).add(status);
      }
    }
    for (const [code, statuses] of documented) expect([code, [...statuses]]).toEqual([code, [String(errorStatus(code as keyof typeof ERROR_CODES))]]);
    // REST answers these; the rest are frame-only (invalid_frame, unknown_type, content_too_long) or bugs (internal).
    for (const code of ['invalid_request', 'unauthorized', 'invalid_credentials', 'forbidden', 'not_found', 'unknown_user', 'username_taken',
      'group_full', 'blocked', 'limit_reached', 'rate_limited', 'unavailable']) expect([code, documented.has(code)]).toEqual([code, true]);
  });

  it('lists exactly the frames ClientConnection handles and the frames the server sends', () => {
    const source = readFileSync(path.join(ROOT, 'src/ws/ClientConnection.ts'), 'utf8');
    const handled = new Set([...source.matchAll(/case '([a-z.]+)':|frame\.type === '([a-z.]+)'/g)].map((m) => m[1] ?? m[2]));
    expect([...handled].sort()).toEqual(Object.keys(clientFrameSchemas({ maxContentChars: 1 })).sort());

    // Every `type: '...'` the server writes into a frame, wherever it is built.
    const NOT_FRAMES = new Set(['direct', 'group', 'deliver', 'event', 'kick', 'default' /* ioredis' context type in store/redis/scripts.ts */]);
    const sent = new Set<string>();
    const scan = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) { if (e.name !== 'protocol') scan(p); continue; }
        for (const m of readFileSync(p, 'utf8').matchAll(/\{ type: '([a-z.]+)'/g)) if (!NOT_FRAMES.has(m[1])) sent.add(m[1]);
      }
    };
    scan(path.join(ROOT, 'src'));
    expect([...sent].sort()).toEqual(Object.keys(serverFrameSchemas).sort());

    const messages = asyncapi.components.messages;
    const byAction = (action: string) => Object.values(asyncapi.operations).filter((o) => o.action === action)
      .flatMap((o) => o.messages.map((m) => messages[m.$ref.split('/').pop()!].name)).sort();
    expect(byAction('receive')).toEqual([...handled].sort());
    expect(byAction('send')).toEqual([...sent].sort());
    expect(Object.keys(messages).sort()).toEqual([...[...handled].map(clientMessageKey), ...[...sent].map(serverMessageKey)].sort());
  });

  it('states every close code', () => {
    for (const c of Object.values(CloseCodes)) expect(asyncapi.info.description).toContain(`${c.code} ${c.reason}`);
  });
});
