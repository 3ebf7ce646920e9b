import type { Readable } from 'node:stream';
import type pg from 'pg';
import type { CompressionKind } from '../compression/decompressor.js';

export type ArchiveTarget = { kind: 'data' } | { kind: 'tablespace'; oid: number };

/** A base-backup archive as the repository gives it back: decrypted, still compressed. */
export interface StoredArchive {
  stream: Readable;
  compression: CompressionKind;
}

/**
 * A provisioner creates the NEW cluster's nodes: where their files go, how their server is
 * started, how Tidemark reaches them. The restore never runs anything on a source node.
 * Implementations: local (this machine), ssh (one or more remote hosts).
 */
export interface Provisioner {
  readonly kind: 'local' | 'ssh';
  /**
   * Checks everything before anything is created: server binaries of `majorVersion`, the
   * libraries in `sharedPreloadLibraries` and the extensions (e.g. citus) installed for them,
   * free ports, target folders absent or empty, free disk space. Returns every problem found
   * (an empty list means go), each saying what to do.
   */
  check(request: ProvisionRequest): Promise<ProvisionProblem[]>;
  /** Creates a node's folders; the node's server is not started. */
  createNode(spec: NodeSpec): Promise<ProvisionedNode>;
  /** Where the node's files go, as a person would look for them: a folder, or user@host:folder. */
  location(spec: NodeSpec): string;
  /**
   * The OS users that connect to a node's unix socket: the one Tidemark's connections arrive as
   * and the server's own (its restore_command and local tools). Restored nodes accept only these,
   * mapped to the bootstrap superuser with peer authentication. Without it: the current OS user.
   */
  socketOsUsers?(): Promise<string[]>;
  close(): Promise<void>;
}

export interface ProvisionRequest {
  majorVersion: number;
  sharedPreloadLibraries: string[];
  extensions: string[];
  nodes: NodeSpec[];
  /** bytes each node needs on disk (data + tablespaces + WAL spool headroom) */
  bytesNeeded: Record<string, number>;
}

export interface NodeSpec {
  /** Tidemark's node id in the source cluster (e.g. `n1`) */
  nodeId: string;
  /** the folder that will hold this node's data directory, WAL spool and log */
  baseDir: string;
  /** port the restored server listens on; 0 lets the provisioner choose a free one */
  port: number;
  /** new locations for the source's tablespaces: oid → absolute path on the target */
  tablespaces: Record<number, string>;
}

export interface ProvisionProblem {
  nodeId: string | null;
  message: string;
}

export interface ProvisionedNode {
  readonly nodeId: string;
  /** host and port clients (and the other restored nodes) use to reach this node */
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** where prefetched WAL is put for `restore_command` */
  readonly walSpoolDir: string;
  /** the folder of the server's unix socket on the target (`unix_socket_directories`) */
  readonly socketDir: string;
  /**
   * Unpacks a base-backup archive, as stored (compressed by the server or not), into the data
   * directory or a tablespace folder; `onBytes` gets the tar bytes unpacked so far.
   */
  extractArchive(into: ArchiveTarget, archive: StoredArchive, onBytes?: (bytes: number) => void): Promise<void>;
  /** Writes a file under the data directory (relative path), atomically, owned by the server's user. */
  writeDataFile(relativePath: string, content: string | Buffer, mode?: number): Promise<void>;
  readDataFile(relativePath: string): Promise<Buffer | null>;
  removeDataFile(relativePath: string): Promise<void>;
  /** Puts one WAL or history file into the spool atomically (temp name, then rename). */
  putSpoolFile(name: string, content: Readable | Buffer): Promise<void>;
  /** Names of files waiting in the spool (the restore_command moves them out as it uses them). */
  listSpool(): Promise<string[]>;
  /** Removes the spool and whatever replay did not use (after promotion). Without it the spool stays. */
  clearSpool?(): Promise<void>;
  /** The shell command PostgreSQL runs to fetch WAL: waits for a file the plan will provide. */
  restoreCommand(): string;
  start(): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  isRunning(): Promise<boolean>;
  /** The last lines of the server's log, for error messages. */
  logTail(lines?: number): Promise<string>;
  /** A client config that reaches this node's server (a local socket or a tunnel). */
  connectionConfig(database: string): Promise<pg.ClientConfig>;
  /** Stops the server and removes everything this provisioner created for the node. */
  destroy(): Promise<void>;
}
