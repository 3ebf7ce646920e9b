import {
  AnonymousCredential,
  ContainerClient,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
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

export interface AzureZoneOptions {
  id: string;
  /** e.g. https://account.blob.core.windows.net, or an Azurite URL with the account in the path */
  accountUrl: string;
  accountName: string;
  container: string;
  /** empty, or path segments each ending in "/" */
  prefix?: string;
  credential: { accountKey: string } | { sasToken: string };
  /** block size in bytes for streamed uploads; default 4 MiB */
  blockSize?: number;
  /** blocks uploaded at once; memory use is about blockSize × (concurrency + 1) */
  concurrency?: number;
  /** tries per request, including the first */
  maxTries?: number;
  /** one try (connect + transfer of one block) may take this long */
  tryTimeoutMs?: number;
}

const azureVocabulary: ServiceVocabulary = {
  notFound: ['BlobNotFound'],
  missingContainer: ['ContainerNotFound', 'ContainerBeingDeleted'],
  authentication: [
    'AuthenticationFailed',
    'InvalidAuthenticationInfo',
    'NoAuthenticationInformation',
  ],
  // Azurite reports a bad key as AuthorizationFailure, with Azure's authentication message
  authenticationMessage: /^Server failed to authenticate the request/,
};

/**
 * An Azure Blob container. Objects are block blobs: staged blocks stay invisible until the
 * block list is committed, so a put that fails midway leaves no object.
 */
export class AzureZone implements Zone {
  readonly kind = 'azure' as const;
  readonly id: string;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly where: string;
  private readonly blockSize: number;
  private readonly concurrency: number;

  constructor(options: AzureZoneOptions) {
    this.id = options.id;
    this.prefix = options.prefix ?? '';
    this.blockSize = options.blockSize ?? 4 * 1024 * 1024;
    this.concurrency = options.concurrency ?? 2;
    const base = `${options.accountUrl.replace(/\/+$/, '')}/${encodeURIComponent(options.container)}`;
    this.where = `${base}/${this.prefix}`;
    const pipeline: StoragePipelineOptions = {
      // fail in seconds when the service is down instead of retrying for minutes
      retryOptions: {
        maxTries: options.maxTries ?? 2,
        tryTimeoutInMs: options.tryTimeoutMs ?? 60_000,
        retryDelayInMs: 500,
        maxRetryDelayInMs: 2_000,
      },
    };
    this.container =
      'accountKey' in options.credential
        ? new ContainerClient(
            base,
            new StorageSharedKeyCredential(options.accountName, options.credential.accountKey),
            pipeline,
          )
        : new ContainerClient(
            `${base}?${options.credential.sasToken.replace(/^\?/, '')}`,
            new AnonymousCredential(),
            pipeline,
          );
  }

  async put(
    key: string,
    body: Readable | Buffer,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    checkKey(this.id, key);
    throwIfAborted(options.signal);
    const blob = this.container.getBlockBlobClient(this.blobName(key));
    const abortSignal = options.signal;
    const dispose = onAbort(options.signal, () => {
      if (!Buffer.isBuffer(body)) body.destroy(cancelledError());
    });
    try {
      if (Buffer.isBuffer(body)) {
        await blob.uploadData(body, {
          blockSize: this.blockSize,
          concurrency: this.concurrency,
          ...(abortSignal ? { abortSignal } : {}),
        });
      } else {
        await blob.uploadStream(
          body,
          this.blockSize,
          this.concurrency,
          abortSignal ? { abortSignal } : {},
        );
      }
    } catch (err) {
      throw toZoneError(
        options.signal?.aborted ? cancelledError() : err,
        this.context('write', key),
        azureVocabulary,
      );
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
      const response = await this.container
        .getBlobClient(this.blobName(key))
        .download(offset, undefined, {
          maxRetryRequests: 2,
          ...(options.signal ? { abortSignal: options.signal } : {}),
        });
      const body = response.readableStreamBody as Readable | undefined;
      if (!body) throw new Error('the download returned no body');
      return readableFromZone(
        body,
        (err) => toZoneError(err, context, azureVocabulary),
        options.signal,
      );
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 416)
        return readFromEnd(() => this.stat(key), offset, context);
      throw toZoneError(err, context, azureVocabulary);
    }
  }

  async stat(key: string): Promise<ZoneObjectInfo | null> {
    checkKey(this.id, key);
    try {
      const properties = await this.container.getBlobClient(this.blobName(key)).getProperties();
      return {
        key,
        size: properties.contentLength ?? 0,
        modified: properties.lastModified ?? new Date(0),
      };
    } catch (err) {
      const mapped = toZoneError(err, this.context('check', key), azureVocabulary);
      if (mapped.code === 'not_found') return null;
      throw mapped;
    }
  }

  async *list(prefix: string): AsyncIterable<ZoneObjectInfo> {
    checkPrefix(this.id, prefix);
    const pages = this.container
      .listBlobsFlat({ prefix: this.prefix + prefix })
      .byPage({ maxPageSize: 1000 });
    while (true) {
      let page;
      try {
        page = await pages.next();
      } catch (err) {
        throw toZoneError(err, this.context('list'), azureVocabulary);
      }
      if (page.done) return;
      for (const item of page.value.segment.blobItems) {
        const key = item.name.slice(this.prefix.length);
        if (isHiddenKey(key, prefix)) continue;
        yield {
          key,
          size: item.properties.contentLength ?? 0,
          modified: item.properties.lastModified,
        };
      }
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(this.id, key);
    try {
      await this.container.getBlobClient(this.blobName(key)).deleteIfExists();
    } catch (err) {
      throw toZoneError(err, this.context('delete', key), azureVocabulary);
    }
  }

  probe(): Promise<ZoneProbe> {
    return roundTripProbe(this);
  }

  private blobName(key: string): string {
    return this.prefix + key;
  }

  private context(action: ZoneErrorContext['action'], key?: string): ZoneErrorContext {
    return { zoneId: this.id, where: this.where, action, ...(key === undefined ? {} : { key }) };
  }
}
