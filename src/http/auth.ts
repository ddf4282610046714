import type { Request, RequestHandler } from 'express';
import type { AuthService, Principal } from '../auth/AuthService';
import { ChatError } from '../errors';

const PRINCIPAL = Symbol('principal');

/** Requires `Authorization: Bearer <token>`; 401 `unauthorized` otherwise. */
export function requireAuth(auth: AuthService): RequestHandler {
  return async (req, _res, next) => {
    const m = req.headers.authorization?.match(/^Bearer\s+(\S+)$/i);
    (req as unknown as Record<symbol, Principal>)[PRINCIPAL] = await auth.authenticate(m ? m[1] : null);
    next();
  };
}

export function principal(req: Request): Principal {
  const p = (req as unknown as Record<symbol, Principal | undefined>)[PRINCIPAL];
  if (!p) throw new ChatError('unauthorized', 'a bearer token is required');
  return p;
}
