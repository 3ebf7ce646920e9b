import type { Catalog } from '../catalog/catalog.js';
import type { NodeRecord } from '../catalog/records.js';
import { TidemarkError } from '../errors.js';
import { describeEndpoint, type NodeEndpoint } from './node-endpoint.js';

/** What the server says about itself (IDENTIFY_SYSTEM, SHOW). */
export interface ServerIdentity {
  systemIdentifier: string;
  serverVersionNum: number;
  walSegmentSize: number;
}

/**
 * Makes sure the catalog knows the cluster and the node before WAL or a backup is stored for
 * it (adding a cluster normally records both; an explicit node list may not have), and that the
 * node is still the server the repository holds WAL of: another system identifier under the
 * same node id would mix two servers' WAL.
 */
export async function ensureCatalogNode(catalog: Catalog, endpoint: NodeEndpoint, identity: ServerIdentity): Promise<NodeRecord> {
  const now = new Date().toISOString();
  if (!catalog.cluster(endpoint.clusterId)) {
    await catalog.putCluster({
      clusterId: endpoint.clusterId,
      name: endpoint.clusterId,
      createdAt: now,
      coordinator: { host: endpoint.address.host, port: endpoint.address.port, database: endpoint.database },
      citusVersion: null,
    });
  }
  const known = catalog.node(endpoint.clusterId, endpoint.nodeId)?.record;
  if (known) {
    if (known.systemIdentifier !== identity.systemIdentifier) {
      throw new TidemarkError(
        'conflict',
        `${describeEndpoint(endpoint)} is another server (system identifier ${identity.systemIdentifier}) than the one whose WAL and backups the repository holds under this node id (${known.systemIdentifier}). Check the node's address (or its override); if the node was really replaced, add the cluster again under a new id.`,
        { details: { clusterId: endpoint.clusterId, nodeId: endpoint.nodeId, expected: known.systemIdentifier, found: identity.systemIdentifier } },
      );
    }
    if (known.walSegmentSize !== identity.walSegmentSize) {
      throw new TidemarkError(
        'conflict',
        `${describeEndpoint(endpoint)} now reports WAL segments of ${identity.walSegmentSize} bytes, but the repository holds segments of ${known.walSegmentSize} bytes for it; this is not the same server setup. Add the cluster again under a new id.`,
      );
    }
    return known;
  }
  const record: NodeRecord = {
    clusterId: endpoint.clusterId,
    nodeId: endpoint.nodeId,
    distNodeId: endpoint.distNodeId,
    groupId: endpoint.groupId,
    role: endpoint.role,
    name: endpoint.name,
    port: endpoint.port,
    systemIdentifier: identity.systemIdentifier,
    serverVersionNum: identity.serverVersionNum,
    walSegmentSize: identity.walSegmentSize,
    firstSeenAt: now,
    removedAt: null,
  };
  await catalog.putNode(record);
  await catalog.flush();
  return record;
}
