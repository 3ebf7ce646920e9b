/**
 * Throughput of the object cipher through its Node streams, 256 MiB in memory, for several
 * chunk sizes. Run: npx tsx bench/repository-crypto.ts [MiB]
 * The default chunk size in object-format.ts rests on these numbers.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MasterKey } from '../main/engine/repository/crypto/master-key.js';
import {
  createDecryptStream,
  createEncryptStream,
} from '../main/engine/repository/crypto/object-streams.js';

const totalMiB = Number(process.argv[2] ?? 256);
const total = totalMiB * 1024 * 1024;
const pieceSize = 64 * 1024; // what fs and network streams typically deliver
const pattern = randomBytes(4 * 1024 * 1024);
const masterKey = MasterKey.generate();
const objectKey = 'clusters/c1/nodes/n1/base/bench/base.tar';

function plaintextSource(): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < total; at += pieceSize) {
        const from = at % pattern.length;
        yield pattern.subarray(from, from + Math.min(pieceSize, total - at));
      }
    })(),
  );
}

function collector(into: Buffer[] | null): Writable {
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      into?.push(chunk);
      callback();
    },
  });
}

/** Checks the plaintext against the repeating pattern as it arrives (memcmp, unlike a hash, costs next to nothing). */
function verifier(): Writable & { received: () => number } {
  let position = 0;
  const sink = new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      for (let at = 0; at < chunk.length;) {
        const from = (position + at) % pattern.length;
        const length = Math.min(chunk.length - at, pattern.length - from);
        if (!chunk.subarray(at, at + length).equals(pattern.subarray(from, from + length))) {
          callback(new Error(`plaintext differs near byte ${position + at}`));
          return;
        }
        at += length;
      }
      position += chunk.length;
      callback();
    },
  });
  return Object.assign(sink, { received: () => position });
}

function mibPerSecond(ms: number): string {
  return `${(total / 1024 / 1024 / (ms / 1000)).toFixed(0).padStart(5)} MiB/s`;
}

interface Timings {
  encryptMs: number;
  decryptMs: number;
  bothMs: number;
}

async function measureOnce(chunkSize: number): Promise<Timings> {
  const ciphertext: Buffer[] = [];
  let started = performance.now();
  await pipeline(
    plaintextSource(),
    createEncryptStream(masterKey, objectKey, { chunkSize }),
    collector(ciphertext),
  );
  const encryptMs = performance.now() - started;

  started = performance.now();
  const decrypted = verifier();
  await pipeline(Readable.from(ciphertext), createDecryptStream(masterKey, objectKey), decrypted);
  const decryptMs = performance.now() - started;
  if (decrypted.received() !== total) throw new Error('round trip lost bytes');
  ciphertext.length = 0;

  started = performance.now();
  await pipeline(
    plaintextSource(),
    createEncryptStream(masterKey, objectKey, { chunkSize }),
    createDecryptStream(masterKey, objectKey),
    verifier(),
  );
  const bothMs = performance.now() - started;
  return { encryptMs, decryptMs, bothMs };
}

/** Best of `runs`: the machine is shared, so the fastest run is the least disturbed one. */
async function measure(chunkSize: number, runs = 3): Promise<void> {
  const timings: Timings[] = [];
  for (let run = 0; run < runs; run += 1) timings.push(await measureOnce(chunkSize));
  const best = (pick: (t: Timings) => number) => Math.min(...timings.map(pick));
  const [encryptMs, decryptMs, bothMs] = [
    best((t) => t.encryptMs),
    best((t) => t.decryptMs),
    best((t) => t.bothMs),
  ];
  const label =
    chunkSize >= 1024 * 1024 ? `${chunkSize / 1024 / 1024} MiB` : `${chunkSize / 1024} KiB`;
  console.log(
    `chunk ${label.padStart(7)}: encrypt ${mibPerSecond(encryptMs)}  decrypt ${mibPerSecond(decryptMs)}  encrypt→decrypt ${mibPerSecond(bothMs)}`,
  );
}

console.log(
  `${totalMiB} MiB through the object cipher streams (pieces of ${pieceSize / 1024} KiB), node ${process.version}`,
);
await measureOnce(1024 * 1024); // warm-up: JIT and allocator
for (const chunkSize of [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024])
  await measure(chunkSize);
