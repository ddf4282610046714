import { Router } from 'express';
import { parse } from '../../chat/validation';
import { MAX_PRESENCE_BATCH, presenceQuery, presenceUserId, userParams } from '../../protocol/rest';
import { ChatError } from '../../errors';
import type { PresenceService } from '../../presence/PresenceService';
import { principal } from '../auth';

/** GET /api/users/:userId/presence and GET /api/presence?userIds=a,b,c (contacts only). */
export function presenceRoutes(presence: PresenceService): { single: Router; batch: Router } {
  const single = Router();
  single.get('/:userId/presence', async (req, res) => {
    const { userId } = parse(userParams, req.params);
    const [view] = await presence.get(principal(req).userId, [userId]);
    res.json(view);
  });
  const batch = Router();
  batch.get('/', async (req, res) => {
    const { userIds } = parse(presenceQuery, req.query);
    const ids = [...new Set(userIds.split(',').map((s) => s.trim()).filter(Boolean))];
    if (ids.length === 0 || ids.length > MAX_PRESENCE_BATCH) throw new ChatError('invalid_request', `userIds must list 1..${MAX_PRESENCE_BATCH} user ids`);
    for (const id of ids) if (!presenceUserId.safeParse(id).success) throw new ChatError('invalid_request', `${id.slice(0, 64)} is not a user id`);
    res.json({ presence: await presence.get(principal(req).userId, ids) });
  });
  return { single, batch };
}
