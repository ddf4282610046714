import { Router } from 'express';
import type { GroupService } from '../../chat/GroupService';
import { parse } from '../../chat/validation';
import { addMemberBody, conversationParams, groupBody, memberParams } from '../../protocol/rest';
import { principal } from '../auth';

export function groupRoutes(groups: GroupService, maxMembers: number): Router {
  const r = Router();
  const createBody = groupBody(maxMembers);
  r.post('/', async (req, res) => {
    const { name, members } = parse(createBody, req.body);
    res.status(201).json(await groups.create(principal(req).userId, name, members ?? []));
  });
  r.get('/:conversationId', async (req, res) => {
    res.json(await groups.get(principal(req).userId, parse(conversationParams, req.params).conversationId));
  });
  r.post('/:conversationId/members', async (req, res) => {
    // The body is checked before the path, as it always was.
    const { userId } = parse(addMemberBody, req.body);
    const { conversationId } = parse(conversationParams, req.params);
    res.json(await groups.addMember(principal(req).userId, conversationId, userId));
  });
  r.delete('/:conversationId/members/:userId', async (req, res) => {
    const { conversationId, userId } = parse(memberParams, req.params);
    await groups.removeMember(principal(req).userId, conversationId, userId);
    res.status(204).end();
  });
  return r;
}
