import { readFileSync } from 'node:fs';
import path from 'node:path';
import cors from 'cors';
import express, { type Express } from 'express';
import type { AuthService } from '../auth/AuthService';
import type { BlockService } from '../chat/BlockService';
import type { ConversationList } from '../chat/ConversationList';
import type { DeviceService } from '../chat/DeviceService';
import type { GroupService } from '../chat/GroupService';
import type { SyncService } from '../chat/SyncService';
import type { Discovery } from '../cluster/Discovery';
import type { PresenceService } from '../presence/PresenceService';
import type { Logger } from '../log';
import { asyncApiDocument } from '../protocol/asyncapi';
import { openApiDocument } from '../protocol/openapi';
import { httpMetrics, metricsEndpoint } from '../metrics/httpMetrics';
import type { Metrics } from '../metrics/Metrics';
import { requireAuth } from './auth';
import { errorHandler, errorStatus, notFound } from './errors';
import type { RateLimits } from './rateLimits';
import { authRoutes } from './routes/authRoutes';
import { conversationRoutes } from './routes/conversationRoutes';
import { deviceRoutes } from './routes/deviceRoutes';
import { groupRoutes } from './routes/groupRoutes';
import { nodeRoutes } from './routes/nodeRoutes';
import { presenceRoutes } from './routes/presenceRoutes';
import { syncRoutes } from './routes/syncRoutes';
import { blockListRoutes, userRoutes } from './routes/userRoutes';

export interface HealthSource {
  nodeId(): number;
  connections(): number;
  /** Names of the dependencies that do not answer right now (empty = ready). */
  unready(): Promise<string[]>;
}

export function createHttpApp(deps: {
  auth: AuthService;
  blocks: BlockService;
  devices: DeviceService;
  conversations: ConversationList;
  groups: GroupService;
  sync: SyncService;
  presence: PresenceService;
  discovery: Discovery;
  maxGroupMembers: number;
  health: HealthSource;
  limits: RateLimits;
  /** server.trustProxy: one proxy hop (yours) is trusted to name the client in X-Forwarded-For. */
  trustProxy: boolean;
  /** server.corsOrigins; empty = any origin. */
  corsOrigins: readonly string[];
  /** chat.maxContentChars, as the protocol document states it. */
  maxContentChars: number;
  log: Logger;
  /** The node's metrics, served at GET /metrics (behind metrics.token when one is set). */
  metrics: { metrics: Metrics; token: string | null };
  /** The built web client (dist/web), served at `/`; null serves none. */
  webRoot?: string | null;
}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Only the entry your proxy appended is believed: anything to its left the client may have forged.
  app.set('trust proxy', deps.trustProxy ? 1 : false);
  app.use(httpMetrics(deps.metrics.metrics)); // metrics: times every request, first so none is missed
  // Bearer tokens, no cookies: any listed origin (or any at all) may call with Authorization.
  app.use(cors({
    origin: deps.corsOrigins.length === 0 ? '*' : [...deps.corsOrigins],
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    exposedHeaders: ['Retry-After'],
    maxAge: 600,
  }));
  app.use(express.json({ limit: '64kb', strict: true }));

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', nodeId: deps.health.nodeId(), connections: deps.health.connections() });
  });
  app.get('/metrics', metricsEndpoint(deps.metrics.metrics, deps.metrics.token));
  app.get('/ready', async (_req, res) => {
    const down = await deps.health.unready();
    if (down.length === 0) res.json({ status: 'ready', nodeId: deps.health.nodeId() });
    else res.status(503).json({ error: { code: 'unavailable', message: `not answering: ${down.join(', ')}` }, unavailable: down });
  });

  // The protocol documents, built once from the schemas in src/protocol; open to anyone, like /health.
  const docInfo = { version: packageVersion() };
  const openapi = JSON.stringify(openApiDocument(errorStatus, docInfo));
  const asyncapi = JSON.stringify(asyncApiDocument({ maxContentChars: deps.maxContentChars }, docInfo));
  app.get('/api/openapi.json', (_req, res) => { res.type('json').send(openapi); });
  app.get('/api/asyncapi.json', (_req, res) => { res.type('json').send(asyncapi); });

  app.use('/api/auth', authRoutes(deps.auth, deps.limits));
  const authed = [requireAuth(deps.auth), deps.limits.perUser];
  const presence = presenceRoutes(deps.presence);
  app.use('/api/users', authed, presence.single, userRoutes(deps.auth, deps.blocks));
  app.use('/api/blocks', authed, blockListRoutes(deps.blocks));
  app.use('/api/presence', authed, presence.batch);
  app.use('/api/nodes', authed, nodeRoutes(deps.discovery));
  app.use('/api/devices', authed, deviceRoutes(deps.devices));
  app.use('/api/conversations', authed, conversationRoutes(deps.conversations, deps.sync));
  app.use('/api/groups', authed, groupRoutes(deps.groups, deps.maxGroupMembers));
  app.use('/api/sync', authed, syncRoutes(deps.devices, deps.sync));

  if (deps.webRoot) app.use(webClient(deps.webRoot));

  app.use(notFound);
  app.use(errorHandler(deps.log, deps.metrics.metrics));
  return app;
}

/**
 * The web client's static files. Everything it runs is bundled (no other origin but the nodes it
 * talks to), which the policy states: scripts and styles from here only, fetch and WebSocket to
 * any node (discovery may name another one).
 */
function webClient(root: string): express.Handler {
  const files = express.static(root, { index: 'index.html', maxAge: 0, fallthrough: true });
  return (req, res, next) => {
    if (req.path.startsWith('/api/')) return next();
    res.setHeader('Content-Security-Policy',
      "default-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    res.setHeader('X-Content-Type-Options', 'nosniff');
    files(req, res, next);
  };
}

/** The version in package.json (the repository root, from src/http or dist/http). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}
