import { Command } from 'commander';
import { appVersion } from './app-version.js';
import { commandModules } from './commands/index.js';

/** The `tidemark` command line: global options plus every command module. */
export function createProgram(): Command {
  const program = new Command('tidemark')
    .description('Point-in-time backup and restore for self-managed Citus clusters.')
    .version(appVersion, '-V, --version', 'print the version')
    .option('--debug', 'print stack traces of errors')
    .showHelpAfterError('(run "tidemark --help" for usage)');
  for (const command of commandModules) command.register(program);
  return program;
}
