import { Router } from 'express';
import type { AuthService } from '../../auth/AuthService';
import { asObject, PASSWORD, requireString, USERNAME } from '../../chat/validation';
import { principal, requireAuth } from '../auth';
import { clientIp, type RateLimits } from '../rateLimits';

export function authRoutes(auth: AuthService, limits: RateLimits): Router {
  const r = Router();
  r.post('/signup', async (req, res) => {
    const body = asObject(req.body);
    const username = requireString(body, 'username', USERNAME);
    const password = requireString(body, 'password', PASSWORD);
    await limits.signupAttempt(clientIp(req));
    const user = await auth.signup(username, password);
    res.status(201).json({ userId: user.userId, username: user.username });
  });
  r.post('/login', async (req, res) => {
    const body = asObject(req.body);
    // Same answer for a malformed name as for an unknown one: no hint about which names exist.
    const username = requireString(body, 'username', { max: 128 });
    const password = requireString(body, 'password', { max: 1024 });
    res.json(await limits.loginAttempt(username, clientIp(req), () => auth.login(username, password)));
  });
  r.post('/logout', requireAuth(auth), limits.perUser, async (req, res) => {
    await auth.logout(principal(req));
    res.status(204).end();
  });
  r.post('/logout-all', requireAuth(auth), limits.perUser, async (req, res) => {
    await auth.logoutAll(principal(req));
    res.status(204).end();
  });
  r.post('/password', requireAuth(auth), limits.perUser, async (req, res) => {
    const body = asObject(req.body);
    const currentPassword = requireString(body, 'currentPassword', { max: 1024 });
    const newPassword = requireString(body, 'newPassword', PASSWORD);
    res.json(await auth.changePassword(principal(req), currentPassword, newPassword));
  });
  return r;
}
