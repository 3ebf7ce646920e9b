import { useConnectionStore } from '../state/connection-store.js';

export function ConnectionBanner() {
  const status = useConnectionStore((state) => state.status);
  if (status === 'reconnecting') {
    return (
      <div className="banner banner-warning" role="status" data-testid="connection-banner">
        Disconnected from the Tidemark engine — reconnecting…
      </div>
    );
  }
  if (status === 'rejected') {
    return (
      <div className="banner banner-error" role="alert" data-testid="token-rejected-banner">
        This page’s access token is no longer accepted: <code>tidemark web</code> was restarted.
        Open the URL it printed when it last started.
      </div>
    );
  }
  return null;
}
