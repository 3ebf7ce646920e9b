import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { toErrorInfo, TidemarkError } from '../../errors.js';
import type { Zone, ZoneProbe } from '../zone.js';
import { internalKeyPrefix } from './zone-key.js';

/**
 * Writes, reads back and deletes a small object: the only check that proves a zone is usable
 * (reachable, credentials valid, writable), timed end to end.
 */
export async function roundTripProbe(
  zone: Pick<Zone, 'id' | 'put' | 'get' | 'delete'>,
): Promise<ZoneProbe> {
  const key = `${internalKeyPrefix}probe-${randomBytes(8).toString('hex')}`;
  const payload = randomBytes(64);
  const started = performance.now();
  try {
    await zone.put(key, payload);
    try {
      const back = await readAll(await zone.get(key));
      if (!back.equals(payload)) {
        throw new TidemarkError(
          'corrupt_object',
          `Zone "${zone.id}" returned different bytes than were written to its probe object. Check the storage for faults.`,
        );
      }
    } finally {
      await zone.delete(key);
    }
    return { reachable: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { reachable: false, latencyMs: null, error: toErrorInfo(err).message };
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}
