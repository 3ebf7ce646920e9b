import { ApiError } from '../api/api-error.js';
import { reportError } from './toast-store.js';

/**
 * For loads the app makes by itself: a lost connection is already shown by the banner and
 * the load is repeated on reconnect, so only other failures become a toast.
 */
export function reportLoadError(err: unknown): void {
  if (err instanceof ApiError && err.code === 'connection_failed') return;
  reportError(err);
}
