import { Router } from 'express';
import type { ConversationList } from '../../chat/ConversationList';
import type { SyncService } from '../../chat/SyncService';
import { parse } from '../../chat/validation';
import { conversationParams, historyQuery, type HistoryPage } from '../../protocol/rest';
import { principal } from '../auth';

/** The conversation list, and history pages (heavy reads: bounded by bytes and per-user concurrency, through SyncService). */
export function conversationRoutes(chat: ConversationList, sync: SyncService): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    res.json({ conversations: await chat.list(principal(req).userId) });
  });
  r.get('/:conversationId/messages', async (req, res) => {
    const { conversationId } = parse(conversationParams, req.params);
    // Only the form here: what the ids mean (and before with after) the domain checks.
    const q = parse(historyQuery, req.query);
    const page = await sync.history(principal(req).userId, conversationId, q);
    res.json(page satisfies HistoryPage);
  });
  return r;
}
