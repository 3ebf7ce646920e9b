import { describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import {
  classifyZoneError,
  toZoneError,
  type ServiceVocabulary,
} from '../../main/engine/repository/zones/zone-errors.js';

const vocabulary: ServiceVocabulary = {
  notFound: ['NoSuchKey'],
  missingContainer: ['NoSuchBucket'],
  authentication: ['SignatureDoesNotMatch'],
};
const errno = (code: string) => Object.assign(new Error(`${code}: failed`), { code });
const service = (name: string, status: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('zone error mapping', () => {
  it('maps errno codes the way a folder zone needs', () => {
    expect(classifyZoneError(errno('ENOSPC'))).toBe('disk_full');
    expect(classifyZoneError(errno('EDQUOT'))).toBe('disk_full');
    expect(classifyZoneError(errno('EROFS'))).toBe('permission');
    expect(classifyZoneError(errno('EACCES'))).toBe('permission');
    expect(classifyZoneError(errno('ENOENT'))).toBe('not_found');
    expect(classifyZoneError(errno('ESTALE'))).toBe('unavailable');
  });

  it('maps service codes before HTTP status, and looks into causes', () => {
    expect(classifyZoneError(service('SignatureDoesNotMatch', 403), vocabulary)).toBe(
      'authentication',
    );
    expect(classifyZoneError(service('AccessDenied', 403), vocabulary)).toBe('permission');
    expect(classifyZoneError(service('NoSuchBucket', 404), vocabulary)).toBe('missing_container');
    expect(classifyZoneError(service('NoSuchKey', 404), vocabulary)).toBe('not_found');
    expect(classifyZoneError(service('SlowDown', 503), vocabulary)).toBe('unavailable');
    expect(classifyZoneError(new Error('wrapped', { cause: errno('ECONNREFUSED') }))).toBe(
      'unavailable',
    );
    expect(classifyZoneError(Object.assign(new Error('t'), { name: 'TimeoutError' }))).toBe(
      'unavailable',
    );
    expect(classifyZoneError(new TypeError('bug'))).toBe('unknown');
  });

  it('builds messages that name the zone, the object and what to do', () => {
    const context = {
      zoneId: 'nas',
      where: 'folder /mnt/nas',
      action: 'write' as const,
      key: 'wal/1',
    };
    const full = toZoneError(errno('ENOSPC'), context);
    expect(full).toBeInstanceOf(TidemarkError);
    expect(full.code).toBe('disk_full');
    expect(full.message).toBe(
      'Zone "nas" (folder /mnt/nas) is full (ENOSPC: failed) while writing "wal/1". Free space or enlarge the volume, then run a zone repair.',
    );
    const down = toZoneError(errno('ECONNREFUSED'), context);
    expect(down).toMatchObject({
      code: 'zone_unavailable',
      retryable: true,
      details: { zoneId: 'nas', key: 'wal/1' },
    });
    const existing = new TidemarkError('cancelled', 'Cancelled.');
    expect(toZoneError(existing, context)).toBe(existing);
  });
});
