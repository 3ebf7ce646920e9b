import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRestoreCommand, restoreCommandTimeoutText, spoolPlanFile } from '../../main/engine/restore/restore-command.js';
import { tempDir } from '../support/temp-dir.js';

/** What PostgreSQL does with restore_command: expand %f, %p and %%, then run it with sh -c. */
function expand(command: string, fileName: string, path: string): string {
  return command.replace(/%[fp%]/g, (m) => (m === '%f' ? fileName : m === '%p' ? path : '%'));
}

function run(command: string, cwd: string): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, ms: Date.now() - started }));
  });
}

const seg1 = '000000010000000000000003';
const seg2 = '000000010000000000000004';
const history = '00000002.history';

describe('restore_command', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let spool: string;
  let dataDir: string;

  beforeAll(async () => {
    root = await tempDir();
    // a path with a space, a quote and a percent sign: all must survive both quoting layers
    spool = join(root.path, "wal spool 'x' 100%");
    dataDir = join(root.path, 'data');
    await mkdir(spool);
    await mkdir(join(dataDir, 'pg_wal'), { recursive: true });
    await writeFile(join(spool, spoolPlanFile), `${seg1}\n${seg2}\n${history}\n`);
  });
  afterAll(() => root.cleanup());

  it('answers "not found" at once for a file the plan does not include', async () => {
    const command = expand(buildRestoreCommand(spool), '00000003.history', 'pg_wal/RECOVERYHISTORY');
    const result = await run(command, dataDir);
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(1000);
  });

  it('moves a delivered file into place and remembers it was handed over', async () => {
    await writeFile(join(spool, seg1), 'segment-1');
    const command = expand(buildRestoreCommand(spool), seg1, 'pg_wal/RECOVERYXLOG');
    expect((await run(command, dataDir)).code).toBe(0);
    expect(await readFile(join(dataDir, 'pg_wal/RECOVERYXLOG'), 'utf8')).toBe('segment-1');
    expect(await readdir(spool)).not.toContain(seg1);
    // asked again (PostgreSQL kept its copy in pg_wal): not found, without waiting
    const again = await run(command, dataDir);
    expect(again.code).toBe(1);
    expect(again.ms).toBeLessThan(1000);
  });

  it('waits for a planned file that is not there yet', async () => {
    const command = expand(buildRestoreCommand(spool), seg2, 'pg_wal/RECOVERYXLOG');
    const running = run(command, dataDir);
    await new Promise((r) => setTimeout(r, 400));
    await writeFile(join(spool, `.${seg2}.tmp`), 'segment-2');
    await rename(join(spool, `.${seg2}.tmp`), join(spool, seg2));
    const result = await running;
    expect(result.code).toBe(0);
    expect(result.ms).toBeGreaterThanOrEqual(350);
    expect(await readFile(join(dataDir, 'pg_wal/RECOVERYXLOG'), 'utf8')).toBe('segment-2');
  });

  it('gives up after the wait time with a fatal status and a message for the server log', async () => {
    const command = expand(buildRestoreCommand(spool, { waitSeconds: 1 }), history, 'pg_wal/RECOVERYHISTORY');
    const result = await run(command, dataDir);
    expect(result.code).toBe(126);
    expect(result.stderr).toContain(restoreCommandTimeoutText);
    expect(result.stderr).toContain(history);
    expect(result.ms).toBeGreaterThanOrEqual(900);
  });
});
