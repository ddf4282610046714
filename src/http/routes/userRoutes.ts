import { Router } from 'express';
import type { AuthService } from '../../auth/AuthService';
import { requireString, USERNAME } from '../../chat/validation';
import { ChatError } from '../../errors';
import { principal } from '../auth';

export function userRoutes(auth: AuthService): Router {
  const r = Router();
  r.get('/me', async (req, res) => {
    const user = await auth.getUser(principal(req).userId);
    if (!user) throw new ChatError('not_found', 'this user no longer exists');
    res.json(user);
  });
  r.get('/', async (req, res) => {
    const username = requireString(req.query as Record<string, unknown>, 'username', USERNAME);
    const user = await auth.findByUsername(username);
    if (!user) throw new ChatError('not_found', `no user named ${username}`);
    res.json({ userId: user.userId, username: user.username });
  });
  return r;
}
