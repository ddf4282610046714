import { Router } from 'express';
import type { AuthService } from '../../auth/AuthService';
import type { BlockService } from '../../chat/BlockService';
import { parse } from '../../chat/validation';
import { userParams, usernameQuery } from '../../protocol/rest';
import { ChatError } from '../../errors';
import { principal } from '../auth';

export function userRoutes(auth: AuthService, blocks: BlockService): Router {
  const r = Router();
  r.get('/me', async (req, res) => {
    const user = await auth.getUser(principal(req).userId);
    if (!user) throw new ChatError('not_found', 'this user no longer exists');
    res.json(user);
  });
  r.get('/', async (req, res) => {
    const { username } = parse(usernameQuery, req.query);
    const user = await auth.findByUsername(username);
    if (!user) throw new ChatError('not_found', `no user named ${username}`);
    res.json({ userId: user.userId, username: user.username });
  });
  // Names are public (any user can be found by name): clients show members and senders by name.
  r.get('/:userId', async (req, res) => {
    const { userId } = parse(userParams, req.params);
    const user = await auth.getUser(userId);
    if (!user) throw new ChatError('not_found', `no user ${userId}`);
    res.json({ userId: user.userId, username: user.username });
  });
  // Idempotent: blocking twice or unblocking someone not blocked answers 204 as well.
  r.post('/:userId/block', async (req, res) => {
    await blocks.block(principal(req).userId, parse(userParams, req.params).userId);
    res.status(204).end();
  });
  r.delete('/:userId/block', async (req, res) => {
    await blocks.unblock(principal(req).userId, parse(userParams, req.params).userId);
    res.status(204).end();
  });
  return r;
}

/** GET /api/blocks: whom the caller blocked, and when. */
export function blockListRoutes(blocks: BlockService): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    res.json({ blocks: await blocks.list(principal(req).userId) });
  });
  return r;
}
