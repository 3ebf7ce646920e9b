import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { throwIfAborted } from '../../errors.js';
import type { Zone, ZoneObjectInfo, ZoneProbe } from '../zone.js';
import {
  checkReadOffset,
  toZoneError,
  type ServiceVocabulary,
  type ZoneErrorContext,
} from './zone-errors.js';
import { checkKey, checkPrefix, isHiddenKey } from './zone-key.js';
import { roundTripProbe } from './zone-probe.js';
import { cancelledError, onAbort, readableFromZone, readFromEnd } from './zone-streams.js';

export interface S3ZoneOptions {
  id: string;
  /** omitted for AWS; set for MinIO, Ceph, s3rver… */
  endpoint?: string;
  region: string;
  bucket: string;
  /** empty, or path segments each ending in "/" */
  prefix?: string;
  forcePathStyle?: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  /** multipart part size in bytes, at least 5 MiB (S3's minimum); default 8 MiB */
  partSize?: number;
  /** parts uploaded at once; memory use is about partSize × (queueSize + 1) */
  queueSize?: number;
  connectTimeoutMs?: number;
  /** a socket idle this long counts as a dead connection */
  idleTimeoutMs?: number;
  /** tries per request, including the first */
  maxAttempts?: number;
}

/** S3 rejects smaller parts (except the last) */
const minPartSize = 5 * 1024 * 1024;

const s3Vocabulary: ServiceVocabulary = {
  notFound: ['NoSuchKey', 'NotFound'],
  missingContainer: ['NoSuchBucket'],
  authentication: [
    'InvalidAccessKeyId',
    'SignatureDoesNotMatch',
    'InvalidToken',
    'ExpiredToken',
    'AuthorizationHeaderMalformed',
  ],
};

/**
 * An S3-compatible bucket. Large objects go up as multipart uploads, which S3 shows only after
 * CompleteMultipartUpload; a failed upload is aborted so no part lingers.
 */
export class S3Zone implements Zone {
  readonly kind = 's3' as const;
  readonly id: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly where: string;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(options: S3ZoneOptions) {
    this.id = options.id;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.partSize = Math.max(options.partSize ?? 8 * 1024 * 1024, minPartSize);
    this.queueSize = options.queueSize ?? 2;
    this.where = `s3://${options.bucket}/${this.prefix} at ${options.endpoint ?? `AWS ${options.region}`}`;
    this.client = new S3Client({
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      region: options.region,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      // fail in seconds when the endpoint is down instead of retrying for minutes
      maxAttempts: options.maxAttempts ?? 2,
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? 5_000,
        socketTimeout: options.idleTimeoutMs ?? 60_000,
      },
      // S3-compatible stores often reject the newer trailing-checksum uploads
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(
    key: string,
    body: Readable | Buffer,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    checkKey(this.id, key);
    throwIfAborted(options.signal);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.objectKey(key), Body: body },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    const dispose = onAbort(options.signal, () => {
      void upload.abort();
      if (!Buffer.isBuffer(body)) body.destroy(cancelledError());
    });
    // when the source breaks, lib-storage reports the failure of aborting the upload instead
    let bodyError: unknown;
    if (!Buffer.isBuffer(body)) body.once('error', (err) => (bodyError = err));
    try {
      await upload.done();
    } catch (err) {
      const cause = options.signal?.aborted ? cancelledError() : (bodyError ?? err);
      throw toZoneError(cause, this.context('write', key), s3Vocabulary);
    } finally {
      dispose();
    }
  }

  async get(
    key: string,
    options: { signal?: AbortSignal; offset?: number } = {},
  ): Promise<Readable> {
    checkKey(this.id, key);
    throwIfAborted(options.signal);
    const context = this.context('read', key);
    const offset = options.offset ?? 0;
    checkReadOffset(context, offset);
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}),
        }),
        options.signal ? { abortSignal: options.signal } : {},
      );
      return readableFromZone(
        response.Body as Readable,
        (err) => toZoneError(err, context, s3Vocabulary),
        options.signal,
      );
    } catch (err) {
      if (httpStatus(err) === 416) return readFromEnd(() => this.stat(key), offset, context);
      throw toZoneError(err, context, s3Vocabulary);
    }
  }

  async stat(key: string): Promise<ZoneObjectInfo | null> {
    checkKey(this.id, key);
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return { key, size: head.ContentLength ?? 0, modified: head.LastModified ?? new Date(0) };
    } catch (err) {
      const mapped = toZoneError(err, this.context('check', key), s3Vocabulary);
      if (mapped.code === 'not_found') return null;
      throw mapped;
    }
  }

  async *list(prefix: string): AsyncIterable<ZoneObjectInfo> {
    checkPrefix(this.id, prefix);
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
      } catch (err) {
        throw toZoneError(err, this.context('list'), s3Vocabulary);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        const key = object.Key.slice(this.prefix.length);
        if (isHiddenKey(key, prefix)) continue;
        yield { key, size: object.Size ?? 0, modified: object.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    checkKey(this.id, key);
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
    } catch (err) {
      const mapped = toZoneError(err, this.context('delete', key), s3Vocabulary);
      if (mapped.code !== 'not_found') throw mapped;
    }
  }

  probe(): Promise<ZoneProbe> {
    return roundTripProbe(this);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    return this.prefix + key;
  }

  private context(action: ZoneErrorContext['action'], key?: string): ZoneErrorContext {
    return { zoneId: this.id, where: this.where, action, ...(key === undefined ? {} : { key }) };
  }
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}
