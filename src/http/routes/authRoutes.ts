import { Router } from 'express';
import type { AuthService } from '../../auth/AuthService';
import { parse } from '../../chat/validation';
import { loginBody, passwordBody, signupBody, type LoginResponse } from '../../protocol/rest';
import { principal, requireAuth } from '../auth';
import { clientIp, type RateLimits } from '../rateLimits';

export function authRoutes(auth: AuthService, limits: RateLimits): Router {
  const r = Router();
  r.post('/signup', async (req, res) => {
    const { username, password } = parse(signupBody, req.body);
    await limits.signupAttempt(clientIp(req));
    const user = await auth.signup(username, password);
    res.status(201).json({ userId: user.userId, username: user.username });
  });
  r.post('/login', async (req, res) => {
    // Same answer for a malformed name as for an unknown one: no hint about which names exist.
    const { username, password } = parse(loginBody, req.body);
    res.json(await limits.loginAttempt(username, clientIp(req), () => auth.login(username, password)) satisfies LoginResponse);
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
    const { currentPassword, newPassword } = parse(passwordBody, req.body);
    res.json(await auth.changePassword(principal(req), currentPassword, newPassword));
  });
  return r;
}
