import { Notification } from 'electron';
import type { Notifier } from '../engine/notify/notifier.js';
import type { Settings } from '../engine/settings/settings-schema.js';

/** Desktop notifications, shown while the settings allow them (which events: `engine/notify`). */
export function electronNotifier(settings: () => Settings): Notifier {
  return {
    notify({ title, body, severity }) {
      if (!settings().desktop.notifications || !Notification.isSupported()) return;
      new Notification({ title, body, urgency: severity === 'error' ? 'critical' : 'normal', silent: severity === 'info' }).show();
    },
  };
}
