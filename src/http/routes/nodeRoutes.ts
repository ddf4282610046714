import { Router } from 'express';
import type { Discovery } from '../../cluster/Discovery';
import { ChatError } from '../../errors';

/** GET /api/nodes (live nodes) and GET /api/nodes/recommend (where a new client should connect). */
export function nodeRoutes(discovery: Discovery): Router {
  const r = Router();
  r.get('/', async (_req, res) => {
    const nodes = await discovery.list();
    res.json({ nodes: nodes.map((n) => ({ nodeId: n.nodeId, wsUrl: n.wsUrl, connections: n.connections, startedAt: n.startedAt })) });
  });
  r.get('/recommend', async (_req, res) => {
    const n = await discovery.recommend();
    if (!n) throw new ChatError('unavailable', 'no live node');
    res.json({ nodeId: n.nodeId, wsUrl: n.wsUrl });
  });
  return r;
}
