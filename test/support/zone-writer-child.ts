/**
 * Streams `bytes` random bytes slowly into a FolderZone, printing "written <n>" as the zone
 * consumes them, so a test can SIGKILL this process in the middle of a put. A failed put
 * prints "error <code> <message>".
 * Usage: node --import tsx test/support/zone-writer-child.ts <root> <key> <bytes>
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';

const [root, key, bytesArg] = process.argv.slice(2);
if (!root || !key || !bytesArg) throw new Error('usage: zone-writer-child.ts <root> <key> <bytes>');
const total = Number(bytesArg);
const chunkSize = 64 * 1024;

async function* slowChunks(): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += chunkSize) {
    yield randomBytes(Math.min(chunkSize, total - sent));
    process.stdout.write(`written ${Math.min(sent + chunkSize, total)}\n`);
    await sleep(5);
  }
}

try {
  await new FolderZone({ id: 'child', path: root }).put(key, Readable.from(slowChunks()));
  process.stdout.write('done\n');
} catch (err) {
  // the parent test checks the error code, e.g. when run as a user without write access
  process.stdout.write(
    `error ${(err as { code?: string }).code ?? 'unknown'} ${(err as Error).message}\n`,
  );
  process.exitCode = 1;
}
