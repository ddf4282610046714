import crypto from 'node:crypto';
import { ChatError } from '../errors';
import { DeviceCursor } from './DeviceCursor';
import type { DeviceRecord, StoredCursor } from './model';
import type { ConnectionKicker, CursorStore, DeviceSlotStore, DeviceStore } from './ports';

export interface DeviceView {
  deviceId: string;
  name: string;
  platform: string;
  hasPushToken: boolean;
  createdAt: string;
}

export class DeviceService {
  constructor(
    private readonly devices: DeviceStore,
    private readonly cursors: CursorStore,
    private readonly kicker: ConnectionKicker,
    private readonly slots: DeviceSlotStore,
  ) {}

  /** Registers a device; 409 `limit_reached` past chat.maxDevicesPerUser (counted atomically, see DeviceSlots). */
  async register(userId: string, input: { name: string; platform: string | null; pushToken: string | null }): Promise<DeviceView> {
    const d: DeviceRecord = {
      userId,
      deviceId: crypto.randomUUID(),
      name: input.name,
      platform: input.platform ?? 'unknown',
      pushToken: input.pushToken,
      createdAt: new Date(),
    };
    await this.slots.reserve(userId, d.deviceId);
    try {
      // A new device starts at the present: it syncs what arrives from now on, not the whole history.
      await this.cursors.save(userId, d.deviceId, DeviceCursor.atPresent());
      await this.devices.create(d);
    } catch (err) {
      // If this fails too, the reservation is pruned once it is a minute old (DeviceSlots): the
      // create's error is what the caller needs.
      await this.slots.release(userId, d.deviceId).catch(() => undefined);
      throw err;
    }
    return toView(d);
  }

  async list(userId: string): Promise<DeviceView[]> {
    return (await this.devices.list(userId)).map(toView);
  }

  /** True when the device exists and is the user's (used on WebSocket upgrade). */
  async owns(userId: string, deviceId: string): Promise<boolean> {
    return (await this.devices.get(userId, deviceId)) !== null;
  }

  /**
   * The device's sync cursor, or null when the device is not the user's. Only the device row proves
   * ownership: a cursor row may outlive its device (a save that was in flight when it was deleted).
   * A device without a cursor row gets one starting at the present.
   */
  async cursorIfOwned(userId: string, deviceId: string): Promise<StoredCursor | null> {
    const [owned, stored] = await Promise.all([this.owns(userId, deviceId), this.cursors.get(userId, deviceId)]);
    if (!owned) return null;
    if (stored) return stored;
    const fresh = DeviceCursor.atPresent();
    await this.cursors.save(userId, deviceId, fresh);
    return fresh;
  }

  /** Deletes the device and closes its live connections on whatever node they are. */
  async remove(userId: string, deviceId: string): Promise<void> {
    if (!(await this.owns(userId, deviceId))) throw new ChatError('not_found', `no device ${deviceId}`);
    await this.devices.delete(userId, deviceId);
    await this.cursors.delete(userId, deviceId);
    await this.slots.release(userId, deviceId);
    await this.kicker.kick({ userId, deviceId, reason: 'device_removed' });
  }
}

function toView(d: DeviceRecord): DeviceView {
  return { deviceId: d.deviceId, name: d.name, platform: d.platform, hasPushToken: d.pushToken !== null, createdAt: d.createdAt.toISOString() };
}
