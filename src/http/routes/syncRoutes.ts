import { Router } from 'express';
import type { DeviceService } from '../../chat/DeviceService';
import { parseId } from '../../chat/snowflake';
import type { SyncService } from '../../chat/SyncService';
import { ID, parseLimit, requireString } from '../../chat/validation';
import { toMessageView } from '../../chat/views';
import { ChatError } from '../../errors';
import { principal } from '../auth';

/** GET /api/sync: what the WebSocket catch-up sends, page by page (oldest first, all conversations; bounded by rows and bytes). */
export function syncRoutes(devices: DeviceService, sync: SyncService): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const userId = principal(req).userId;
    const deviceId = requireString(q, 'deviceId', ID);
    const limit = parseLimit(q.limit, 100, 500);
    // The whole request counts as a heavy read: a refused one costs no Cassandra read at all.
    res.json(await sync.heavyRead(userId, async () => {
      // One read: the device's cursor exists exactly when the device is the user's.
      const cursor = await devices.cursorIfOwned(userId, deviceId);
      if (!cursor) throw new ChatError('forbidden', 'this device is not registered to this user');
      let after: bigint;
      let skip: Set<bigint> | undefined;
      if (q.after !== undefined) {
        const parsed = parseId(q.after);
        if (parsed === null) throw new ChatError('invalid_request', 'after must be a message id');
        after = parsed;
      } else {
        after = cursor.safe;
        skip = new Set(cursor.seen);
      }
      const page = await sync.readSince(userId, after, limit, { excludeDeviceId: deviceId, skip });
      return { messages: page.messages.map(toMessageView), nextAfter: page.nextAfter.toString(), hasMore: page.hasMore };
    }));
  });
  return r;
}
