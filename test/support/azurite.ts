import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmulatorProcess } from './emulator-process.js';
import { freePort } from './free-port.js';

/** Azurite's published development account (not a secret). */
export const azuriteAccountName = 'devstoreaccount1';
export const azuriteAccountKey =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteHandle {
  /** with the account in the path, as Azurite expects */
  accountUrl: string;
  accountName: string;
  accountKey: string;
  container: string;
  port: number;
  location: string;
  /** graceful stop (Azurite saves its metadata); data stays for `start` */
  stop(): Promise<void>;
  /** SIGKILL mid-request */
  kill(): Promise<void>;
  /** starts again on the same port and folder */
  start(): Promise<void>;
  /** stops and removes the data folder */
  dispose(): Promise<void>;
}

const azuriteBin = fileURLToPath(new URL('../../node_modules/.bin/azurite-blob', import.meta.url));

/** Azurite's blob service only, on a free loopback port, telemetry off, with one container. */
export async function startAzurite(options: { container?: string } = {}): Promise<AzuriteHandle> {
  const location = await mkdtemp(join(tmpdir(), 'tidemark-azurite-'));
  const port = await freePort();
  const container = options.container ?? 'tidemark-test';
  const emulator = new EmulatorProcess(
    'azurite-blob',
    azuriteBin,
    [
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--location',
      location,
      '--silent',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
    ],
    /Azurite Blob service (is successfully listening|successfully listens)/,
  );
  await emulator.start();
  const accountUrl = `http://127.0.0.1:${port}/${azuriteAccountName}`;
  const client = new ContainerClient(
    `${accountUrl}/${container}`,
    new StorageSharedKeyCredential(azuriteAccountName, azuriteAccountKey),
  );
  await client.createIfNotExists();
  return {
    accountUrl,
    accountName: azuriteAccountName,
    accountKey: azuriteAccountKey,
    container,
    port,
    location,
    stop: () => emulator.stop(),
    kill: () => emulator.kill(),
    start: () => emulator.start(),
    dispose: async () => {
      await emulator.stop();
      await rm(location, { recursive: true, force: true });
    },
  };
}
