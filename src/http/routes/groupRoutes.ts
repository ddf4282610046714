import { Router } from 'express';
import type { GroupService } from '../../chat/GroupService';
import { asObject, GROUP_NAME, ID, requireString } from '../../chat/validation';
import { ChatError } from '../../errors';
import { principal } from '../auth';

export function groupRoutes(groups: GroupService, maxMembers: number): Router {
  const r = Router();
  r.post('/', async (req, res) => {
    const body = asObject(req.body);
    const name = requireString(body, 'name', GROUP_NAME);
    const members = body.members ?? [];
    if (!Array.isArray(members) || members.length > maxMembers * 2) {
      throw new ChatError('invalid_request', 'members must be an array of user ids');
    }
    const ids = members.map((_, i) => requireString(members as unknown as Record<string, unknown>, String(i), ID));
    res.status(201).json(await groups.create(principal(req).userId, name, ids));
  });
  r.get('/:conversationId', async (req, res) => {
    res.json(await groups.get(principal(req).userId, requireString(req.params, 'conversationId', ID)));
  });
  r.post('/:conversationId/members', async (req, res) => {
    const userId = requireString(asObject(req.body), 'userId', ID);
    res.json(await groups.addMember(principal(req).userId, requireString(req.params, 'conversationId', ID), userId));
  });
  r.delete('/:conversationId/members/:userId', async (req, res) => {
    await groups.removeMember(principal(req).userId, requireString(req.params, 'conversationId', ID), requireString(req.params, 'userId', ID));
    res.status(204).end();
  });
  return r;
}
