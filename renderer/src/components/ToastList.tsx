import { useToastStore } from '../state/toast-store.js';

export function ToastList() {
  const toasts = useToastStore((state) => state.toasts);
  const dismiss = useToastStore((state) => state.dismiss);
  if (toasts.length === 0) return null;
  return (
    <div className="toasts" role="alert" aria-live="assertive">
      {toasts.map((toast) => (
        <div className="toast" key={toast.id} data-testid="toast">
          <p className="toast-message">{toast.message}</p>
          <button
            type="button"
            className="toast-dismiss"
            data-testid="toast-dismiss"
            aria-label="Dismiss"
            onClick={() => dismiss(toast.id)}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
