import type { Command } from 'commander';
import * as web from './web.js';

/** A CLI command: one file under commands/, registering itself on the program. */
export interface CommandModule {
  register(program: Command): void;
}

/** Every command, in the order `tidemark --help` lists them. */
export const commandModules: readonly CommandModule[] = [web];
