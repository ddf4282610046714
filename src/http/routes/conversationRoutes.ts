import { Router } from 'express';
import type { ConversationList } from '../../chat/ConversationList';
import type { SyncService } from '../../chat/SyncService';
import { ID, parseLimit, requireString } from '../../chat/validation';
import { ChatError } from '../../errors';
import { principal } from '../auth';

/** The conversation list, and history pages (heavy reads: bounded by bytes and per-user concurrency, through SyncService). */
export function conversationRoutes(chat: ConversationList, sync: SyncService): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    res.json({ conversations: await chat.list(principal(req).userId) });
  });
  r.get('/:conversationId/messages', async (req, res) => {
    const conversationId = requireString(req.params, 'conversationId', ID);
    const q = req.query as Record<string, unknown>;
    for (const k of ['before', 'after']) {
      if (q[k] !== undefined && typeof q[k] !== 'string') throw new ChatError('invalid_request', `${k} must be a message id`);
    }
    const page = await sync.history(principal(req).userId, conversationId, {
      before: q.before as string | undefined,
      after: q.after as string | undefined,
      limit: parseLimit(q.limit, 50, 100),
    });
    res.json(page);
  });
  return r;
}
