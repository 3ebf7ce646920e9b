/**
 * Whether the renderer can reach the engine. Over Electron IPC it always can; over the
 * WebSocket it can drop and come back.
 */
export type ConnectionStatus =
  | 'connecting'
  | 'open'
  | 'reconnecting'
  /** the bridge refuses this page's token (it was restarted with a new one): retrying is futile */
  | 'rejected';

export interface Connection {
  status(): ConnectionStatus;
  /** called on every change; returns an unsubscribe function */
  onChange(listener: (status: ConnectionStatus) => void): () => void;
}

/** A connection that is open for good: the preload's IPC needs no reconnecting. */
export const alwaysOpen: Connection = {
  status: () => 'open',
  onChange: () => () => {},
};
