import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmulatorProcess } from './emulator-process.js';
import { freePort } from './free-port.js';

export interface S3rverHandle {
  endpoint: string;
  port: number;
  directory: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** graceful stop; data stays in `directory` for `start` */
  stop(): Promise<void>;
  /** SIGKILL mid-request */
  kill(): Promise<void>;
  /** starts again on the same port and folder */
  start(): Promise<void>;
  /** stops and removes the data folder */
  dispose(): Promise<void>;
}

const s3rverBin = fileURLToPath(new URL('../../node_modules/.bin/s3rver', import.meta.url));

/** s3rver (an S3 API emulator) as a child process on a free loopback port, with one bucket. */
export async function startS3rver(options: { bucket?: string } = {}): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 'tidemark-s3rver-'));
  const port = await freePort();
  const bucket = options.bucket ?? 'tidemark-test';
  const emulator = new EmulatorProcess(
    's3rver',
    s3rverBin,
    [
      '-d',
      directory,
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '--silent',
      '--configure-bucket',
      bucket,
    ],
    /S3rver listening on/,
  );
  await emulator.start();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    bucket,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    stop: () => emulator.stop(),
    kill: () => emulator.kill(),
    start: () => emulator.start(),
    dispose: async () => {
      await emulator.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
