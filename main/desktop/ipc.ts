import { ipcMain, type WebContents } from 'electron';
import { wireChannels } from '../api/contract/index.js';
import type { Dispatch } from '../api/dispatcher.js';
import type { EngineEventSource } from '../bridge/engine-events.js';

/**
 * Answers renderer calls on the one call channel. The dispatcher decides whether the
 * sending frame may call (main frame of app://tidemark); a frame that is gone is refused.
 */
export function registerIpc(dispatch: Dispatch): () => void {
  ipcMain.handle(wireChannels.call, (event, method: unknown, input: unknown) => {
    const frame = event.senderFrame;
    // A frame without a parent is a top-level document (the window's, not an iframe's).
    const caller = {
      transport: 'ipc' as const,
      frameUrl: frame?.url ?? '',
      isMainFrame: frame?.parent === null,
    };
    return dispatch(caller, method, input);
  });
  return () => ipcMain.removeHandler(wireChannels.call);
}

/** Sends every contract event to the window's renderer as (name, payload). */
export function forwardEvents(
  source: EngineEventSource,
  target: () => WebContents | null,
): () => void {
  return source.subscribe(({ event, payload }) => {
    const contents = target();
    if (contents && !contents.isDestroyed()) contents.send(wireChannels.event, event, payload);
  });
}
