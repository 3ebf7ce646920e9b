import type { WalNodeOverview } from '../../api/types.js';
import { formatBytes } from '../../format.js';

/** Who streams the node's WAL, as its server sees the slot (this app, the agent, or nobody). */
function StreamedBy({ node }: { node: WalNodeOverview }) {
  const slot = node.slotOnServer;
  if (!slot) return <span className="muted">—</span>;
  if (!slot.exists) return <span className="text-warn">no slot: never streamed</span>;
  if (!slot.active || !slot.holder) {
    return (
      <span className="text-warn">
        NOT streamed by anyone: the slot keeps the WAL on the server until streaming resumes
      </span>
    );
  }
  const { applicationName, pid, clientAddress } = slot.holder;
  return (
    <span>
      {node.stream ? 'this app' : (applicationName ?? 'another client')}{' '}
      <span className="muted small">
        (pid {pid}
        {clientAddress ? ` from ${clientAddress}` : ''})
      </span>
    </span>
  );
}

/**
 * Each node's WAL archiving seen from its server and the repository, whichever process streams:
 * what `tidemark wal status` prints, for when the agent does the streaming.
 */
export function WalOverviewPanel({ nodes }: { nodes: WalNodeOverview[] }) {
  return (
    <table className="table" data-testid="wal-overview">
      <thead>
        <tr>
          <th scope="col">Node</th>
          <th scope="col">Streamed by</th>
          <th scope="col">Archived up to</th>
          <th scope="col">Server at</th>
          <th scope="col">Kept on the server for the slot</th>
        </tr>
      </thead>
      <tbody>
        {nodes.map((node) => (
          <tr key={node.nodeId} data-testid={`wal-overview-${node.nodeId}`}>
            <td className="mono">
              {node.nodeId}
              <div className="small muted">{node.node}</div>
            </td>
            <td>
              {node.error ? (
                <span className="text-danger">{node.error.message}</span>
              ) : (
                <StreamedBy node={node} />
              )}
            </td>
            <td className="mono">
              {node.archived ? (
                <>
                  {node.archived.storedEnd}{' '}
                  <span className="muted small">timeline {node.archived.timeline}</span>
                </>
              ) : (
                <span className="muted">nothing yet</span>
              )}
            </td>
            <td className="mono">{node.serverLsn ?? '—'}</td>
            <td>
              {node.slotOnServer?.backlogBytes != null
                ? formatBytes(node.slotOnServer.backlogBytes)
                : '—'}
              {node.slotOnServer?.walStatus === 'lost' && (
                <div className="small text-danger">
                  the server removed WAL the slot needed: the repository has a gap
                </div>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
