import { create } from 'zustand';
import type { ConnectionStatus } from '../api/connection.js';

interface ConnectionState {
  status: ConnectionStatus;
}

export const useConnectionStore = create<ConnectionState>()(() => ({ status: 'connecting' }));
