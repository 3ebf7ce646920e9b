/**
 * The `restore_command` of a restored node: a POSIX `sh` one-liner (the target may have no Node)
 * that takes WAL from the spool Tidemark fills ahead of replay.
 *
 * - A file the plan does not list gets "not found" at once: PostgreSQL asks for `.history` files
 *   of timelines that do not exist and for segments past the target, and must not wait for them.
 * - A planned file already handed over gets "not found" too: PostgreSQL kept it in pg_wal and
 *   falls back to that copy.
 * - A planned file not delivered yet is waited for; on timeout the command prints why to the
 *   server log and exits 126, which PostgreSQL treats as fatal (an ordinary failure would make it
 *   end recovery early and report a misleading "target not reached").
 * - The file is MOVED into place, so the spool only holds what replay has not used yet.
 */

/** The plan's file list inside the spool, one name per line. */
export const spoolPlanFile = '.plan';
/** Marker the command leaves for each file it handed over. */
export const spoolDoneMarker = (fileName: string): string => `.${fileName}.done`;
/** The text the command prints to the server log when it gives up waiting. */
export const restoreCommandTimeoutText = 'tidemark restore_command: timed out';
/** Exit status PostgreSQL treats as a fatal restore_command failure (> 125). */
export const restoreCommandFatalExit = 126;

export const defaultWalWaitSeconds = 600;

export interface RestoreCommandOptions {
  /** how long to wait for a planned file Tidemark has not delivered yet */
  waitSeconds?: number;
}

/** A string as one `sh` word: single-quoted, embedded quotes as `'\''`. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** PostgreSQL expands `%` escapes in restore_command: a literal `%` must be written `%%`. */
export function escapePercent(value: string): string {
  return value.replaceAll('%', '%%');
}

export function buildRestoreCommand(spoolDir: string, options: RestoreCommandOptions = {}): string {
  if (/[\n\r\0]/.test(spoolDir)) throw new RangeError('The WAL spool path cannot contain a line break or NUL.');
  const waitSeconds = Math.max(1, Math.round(options.waitSeconds ?? defaultWalWaitSeconds));
  // Short naps: replay usually waits only for the file being written right now, and every nap
  // is time replay stands still.
  const ticks = waitSeconds * 50;
  const spool = escapePercent(shellQuote(spoolDir));
  return [
    `s=${spool}; f=%f`,
    `grep -qxF "$f" "$s/${spoolPlanFile}" || exit 1`,
    `[ -e "$s/.$f.done" ] && exit 1`,
    'n=0',
    `while [ ! -f "$s/$f" ]; do n=$((n+1)); if [ "$n" -gt ${ticks} ]; then echo "${restoreCommandTimeoutText} after ${waitSeconds} s waiting for WAL file $f in $s: Tidemark did not deliver it" >&2; exit ${restoreCommandFatalExit}; fi; sleep 0.02 2>/dev/null || sleep 1; done`,
    `mv -f "$s/$f" "%p" && : > "$s/.$f.done"`,
  ].join('; ');
}
