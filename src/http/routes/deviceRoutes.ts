import { Router } from 'express';
import type { DeviceService } from '../../chat/DeviceService';
import { parse } from '../../chat/validation';
import { deviceBody, deviceParams } from '../../protocol/rest';
import { principal } from '../auth';

export function deviceRoutes(devices: DeviceService): Router {
  const r = Router();
  r.post('/', async (req, res) => {
    const body = parse(deviceBody, req.body);
    const d = await devices.register(principal(req).userId, { name: body.name, platform: body.platform ?? null, pushToken: body.pushToken ?? null });
    res.status(201).json(d);
  });
  r.get('/', async (req, res) => {
    res.json({ devices: await devices.list(principal(req).userId) });
  });
  r.delete('/:deviceId', async (req, res) => {
    const { deviceId } = parse(deviceParams, req.params);
    await devices.remove(principal(req).userId, deviceId);
    res.status(204).end();
  });
  return r;
}
