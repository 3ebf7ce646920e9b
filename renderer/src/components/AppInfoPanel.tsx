import { useAppInfoStore } from '../state/app-info-store.js';

const shellLabels = { desktop: 'Desktop app', web: 'Browser, through tidemark web' } as const;

export function AppInfoPanel() {
  const info = useAppInfoStore((state) => state.info);
  const error = useAppInfoStore((state) => state.error);
  if (!info)
    return (
      <p className="muted">
        {error ? `About this installation could not be loaded: ${error}` : 'Loading…'}
      </p>
    );
  return (
    <>
      {info.secrets.problem && (
        <div className="banner banner-danger" role="alert" data-testid="secrets-problem">
          Secrets cannot be stored: {info.secrets.problem}
        </div>
      )}
      <dl className="facts" data-testid="app-info">
        <dt>Version</dt>
        <dd data-testid="app-version">{info.version}</dd>
        <dt>Running as</dt>
        <dd data-testid="app-shell">{shellLabels[info.shell]}</dd>
        <dt>Platform</dt>
        <dd>{info.platform}</dd>
        <dt>Secrets kept in</dt>
        <dd data-testid="secrets-backend">
          {info.secrets.backend}
          {!info.secrets.writable && <span className="badge badge-failed">read-only</span>}
        </dd>
      </dl>
    </>
  );
}
