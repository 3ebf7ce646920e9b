import { useState } from 'react';
import { useRepositoriesStore } from '../../state/repositories-store.js';
import { EmptyState } from '../EmptyState.js';
import { RepositoryCard } from './RepositoryCard.js';
import { RepositoryForm } from './RepositoryForm.js';

export function RepositoriesPanel() {
  const repositories = useRepositoriesStore((s) => s.repositories);
  const loaded = useRepositoriesStore((s) => s.loaded);
  const error = useRepositoriesStore((s) => s.error);
  const [creating, setCreating] = useState(false);
  return (
    <div data-testid="repositories">
      <div className="section-head">
        <h2>Repositories</h2>
        {!creating && (
          <button
            type="button"
            className="button button-primary"
            data-testid="create-repository"
            onClick={() => setCreating(true)}
          >
            Create repository
          </button>
        )}
      </div>
      {creating && <RepositoryForm onClose={() => setCreating(false)} />}
      {!loaded ? (
        <p className="muted">
          {error
            ? `The repositories could not be loaded: ${error}`
            : 'Loading repositories and probing their zones…'}
        </p>
      ) : repositories.length === 0 ? (
        !creating && (
          <EmptyState title="No repository yet">
            <p>
              A repository is where backups go: one or more zones (folders, S3-compatible buckets,
              Azure Blob containers), each holding a full encrypted copy. Create one before adding a
              cluster.
            </p>
          </EmptyState>
        )
      ) : (
        <div className="cards">
          {repositories.map((r) => (
            <RepositoryCard key={r.config.id} summary={r} />
          ))}
        </div>
      )}
    </div>
  );
}
