import type { Logger } from '../log/logger.js';

export type NotificationSeverity = 'info' | 'warning' | 'error';

/** Something the user should know while nobody looks at the app: a failure, or its end. */
export interface Notification {
  title: string;
  body: string;
  severity: NotificationSeverity;
}

/** The port: a desktop notification in the app, a log line in the headless agent. */
export interface Notifier {
  notify(notification: Notification): void;
}

/** The agent's notifier: one warning line per notification, for whatever watches the log. */
export function logNotifier(logger: Pick<Logger, 'warn'>): Notifier {
  return {
    notify({ title, body, severity }) {
      logger.warn({ notification: true, severity, title }, `${title}: ${body}`);
    },
  };
}
