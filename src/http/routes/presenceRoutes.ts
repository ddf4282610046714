import { Router } from 'express';
import { ID, requireString } from '../../chat/validation';
import { ChatError } from '../../errors';
import type { PresenceService } from '../../presence/PresenceService';
import { principal } from '../auth';

const MAX_BATCH = 100;

/** GET /api/users/:userId/presence and GET /api/presence?userIds=a,b,c (contacts only). */
export function presenceRoutes(presence: PresenceService): { single: Router; batch: Router } {
  const single = Router();
  single.get('/:userId/presence', async (req, res) => {
    const userId = requireString(req.params, 'userId', ID);
    const [view] = await presence.get(principal(req).userId, [userId]);
    res.json(view);
  });
  const batch = Router();
  batch.get('/', async (req, res) => {
    const raw = requireString(req.query as Record<string, unknown>, 'userIds', { max: MAX_BATCH * 130 });
    const ids = [...new Set(raw.split(',').map((s) => s.trim()).filter(Boolean))];
    if (ids.length === 0 || ids.length > MAX_BATCH) throw new ChatError('invalid_request', `userIds must list 1..${MAX_BATCH} user ids`);
    for (const id of ids) if (id.length > ID.max || !ID.pattern.test(id)) throw new ChatError('invalid_request', `${id.slice(0, 64)} is not a user id`);
    res.json({ presence: await presence.get(principal(req).userId, ids) });
  });
  return { single, batch };
}
