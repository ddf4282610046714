import { Router } from 'express';
import type { DeviceService } from '../../chat/DeviceService';
import { asObject, DEVICE_NAME, ID, optionalString, PLATFORM, PUSH_TOKEN, requireString } from '../../chat/validation';
import { principal } from '../auth';

export function deviceRoutes(devices: DeviceService): Router {
  const r = Router();
  r.post('/', async (req, res) => {
    const body = asObject(req.body);
    const input = {
      name: requireString(body, 'name', DEVICE_NAME),
      platform: optionalString(body, 'platform', PLATFORM),
      pushToken: optionalString(body, 'pushToken', PUSH_TOKEN),
    };
    const d = await devices.register(principal(req).userId, input);
    res.status(201).json(d);
  });
  r.get('/', async (req, res) => {
    res.json({ devices: await devices.list(principal(req).userId) });
  });
  r.delete('/:deviceId', async (req, res) => {
    const deviceId = requireString(req.params, 'deviceId', ID);
    await devices.remove(principal(req).userId, deviceId);
    res.status(204).end();
  });
  return r;
}
