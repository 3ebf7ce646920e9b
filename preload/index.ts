import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import {
  methodNames,
  wireChannels,
  type EventName,
  type EventPayload,
  type TidemarkApi,
  type TidemarkBridge,
} from '../main/api/contract/index.js';

// One function per contract method, each a single invoke on the call channel. The renderer
// never sees ipcRenderer itself.
const api = Object.fromEntries(
  methodNames.map((name) => [
    name,
    (input: unknown) => ipcRenderer.invoke(wireChannels.call, name, input),
  ]),
) as TidemarkApi;

const bridge = {
  ...api,
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
    const relay = (_event: IpcRendererEvent, name: unknown, payload: unknown) => {
      if (name === event) listener(payload as EventPayload<E>);
    };
    ipcRenderer.on(wireChannels.event, relay);
    return () => {
      ipcRenderer.removeListener(wireChannels.event, relay);
    };
  },
} satisfies TidemarkBridge;

contextBridge.exposeInMainWorld('tidemark', bridge);
