import { create } from 'zustand';
import { errorMessage } from '../api/api-error.js';

export interface Toast {
  id: number;
  message: string;
}

interface ToastState {
  toasts: Toast[];
  push(message: string): void;
  dismiss(id: number): void;
}

/** More would bury the page; the oldest go first. */
const maxToasts = 4;
let nextToastId = 1;

export const useToastStore = create<ToastState>()((set) => ({
  toasts: [],
  push: (message) =>
    set((state) => {
      // The same failure repeated (e.g. a button clicked twice) is shown once.
      if (state.toasts.some((toast) => toast.message === message)) return state;
      return { toasts: [...state.toasts, { id: nextToastId++, message }].slice(-maxToasts) };
    }),
  dismiss: (id) => set((state) => ({ toasts: state.toasts.filter((toast) => toast.id !== id) })),
}));

/** Shows a failed call's message (written for the user) as a toast. */
export function reportError(err: unknown): void {
  useToastStore.getState().push(errorMessage(err));
}
