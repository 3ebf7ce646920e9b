import { TidemarkError } from '../engine/errors.js';
import { createProgram } from './program.js';

/**
 * Runs the CLI: errors print one line `error: <message>` and exit 1; stacks only with
 * --debug, because the message already says what to do.
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    const debug = program.opts<{ debug?: boolean }>().debug === true || argv.includes('--debug');
    console.error(`error: ${messageOf(err)}`);
    if (debug && err instanceof Error && err.stack) console.error(err.stack);
    process.exitCode = 1;
  }
}

function messageOf(err: unknown): string {
  if (err instanceof TidemarkError) return err.message;
  if (err instanceof Error) return `${err.message} (run with --debug for details)`;
  return String(err);
}
