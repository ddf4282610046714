import { Router } from 'express';
import type { DeviceService } from '../../chat/DeviceService';
import type { SyncService } from '../../chat/SyncService';
import { parse } from '../../chat/validation';
import { syncQuery, type SyncPage } from '../../protocol/rest';
import { toMessageView } from '../../chat/views';
import { ChatError } from '../../errors';
import { principal } from '../auth';

/** GET /api/sync: what the WebSocket catch-up sends, page by page (oldest first, all conversations; bounded by rows and bytes). */
/** `after` is checked only once the device is known to be the caller's, as it always was. */
const queryFirst = syncQuery.omit({ after: true });

export function syncRoutes(devices: DeviceService, sync: SyncService): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const userId = principal(req).userId;
    const { deviceId, limit } = parse(queryFirst, req.query);
    // The whole request counts as a heavy read: a refused one costs no Cassandra read at all.
    res.json(await sync.heavyRead(userId, async () => {
      // One read: the device's cursor exists exactly when the device is the user's.
      const cursor = await devices.cursorIfOwned(userId, deviceId);
      if (!cursor) throw new ChatError('forbidden', 'this device is not registered to this user');
      let after: bigint;
      let skip: Set<bigint> | undefined;
      const q = req.query as Record<string, unknown>;
      if (q.after !== undefined) {
        after = BigInt(parse(syncQuery.shape.after.unwrap(), q.after));
      } else {
        after = cursor.safe;
        skip = new Set(cursor.seen);
      }
      const page = await sync.readSince(userId, after, limit, { excludeDeviceId: deviceId, skip });
      return { messages: page.messages.map(toMessageView), nextAfter: page.nextAfter.toString(), hasMore: page.hasMore } satisfies SyncPage;
    }));
  });
  return r;
}
