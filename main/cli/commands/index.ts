import type { Command } from 'commander';
import * as agent from './agent.js';
import * as backup from './backup.js';
import * as cluster from './cluster.js';
import * as repo from './repo.js';
import * as restorePoint from './restore-point.js';
import * as restore from './restore.js';
import * as sandbox from './sandbox.js';
import * as wal from './wal.js';
import * as web from './web.js';

/** A CLI command: one file under commands/, registering itself on the program. */
export interface CommandModule {
  register(program: Command): void;
}

/** Every command, in the order `tidemark --help` lists them. */
export const commandModules: readonly CommandModule[] = [web, agent, repo, cluster, backup, wal, restorePoint, restore, sandbox];
