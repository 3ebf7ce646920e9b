/**
 * Encrypt + write through the repository vs `openssl enc -aes-256-ctr` of the same bytes to
 * the same disk. Run: npm run bench:repository [-- <MiB>] (default 1024).
 *
 * One input file (half random, half compressible) is generated in a temp folder. Each side runs
 * in its own child process, twice, alternating; the best time of each counts (the machine is
 * shared). Both sides end with the output on disk (Tidemark fsyncs; openssl is followed by
 * `sync <file>`). Tidemark's peak RSS is sampled inside its process and, when GNU time exists,
 * read as its maximum resident set size. Targets: ratio ≤ 1.2, peak RSS < 150 MB.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_CHUNK_SIZE, encryptedObjectSize } from '../main/engine/repository/crypto/index.js';
import { repositoryConfigSchema } from '../main/engine/repository/repository-config.js';
import { Repository } from '../main/engine/repository/repository.js';
import { FolderZone } from '../main/engine/repository/zones/folder-zone.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const thisFile = fileURLToPath(import.meta.url);

interface SideResult {
  ms: number;
  peakRssBytes?: number;
  baselineRssBytes?: number;
}

/** The Tidemark side, in a child process so its memory is its own. */
async function child(input: string, zoneDir: string): Promise<void> {
  const config = repositoryConfigSchema.parse({
    id: 'bench',
    name: 'bench',
    zones: [{ kind: 'folder', id: 'disk', name: 'disk', path: zoneDir }],
  });
  const repository = await Repository.init({
    config,
    zones: [new FolderZone({ id: 'disk', path: zoneDir })],
    secret: { passphrase: 'benchmark passphrase' },
    keyringOptions: { scrypt: { N: 2 ** 14, r: 8, p: 1 } },
  });
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const key = 'clusters/bench/nodes/n1/backups/b1/archives/base.tar';
  await repository.putObject(key, createReadStream(input, { highWaterMark: MiB }));
  const ms = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  // a benchmark that did not store the whole object must not report a time
  const stored = await repository.zones.zones[0]!.stat(key);
  const expected = encryptedObjectSize((await stat(input)).size, DEFAULT_CHUNK_SIZE);
  if (stored?.size !== expected)
    throw new Error(`stored ${stored?.size} bytes, expected ${expected}`);
  await repository.close();
  process.stdout.write(
    `${JSON.stringify({ ms, peakRssBytes: peak, baselineRssBytes: baseline })}\n`,
  );
}

async function generateInput(path: string, bytes: number): Promise<void> {
  const file = await open(path, 'w');
  const compressible = Buffer.from(
    "2026-01-01 00:00:00 UTC INSERT INTO orders VALUES (42, 17, 99.50, 'shipped');\n".repeat(16384),
  ).subarray(0, 4 * MiB);
  for (let at = 0; at < bytes; at += 4 * MiB) {
    const size = Math.min(4 * MiB, bytes - at);
    await file.write(at < bytes / 2 ? randomBytes(size) : compressible.subarray(0, size));
  }
  await file.sync();
  await file.close();
}

/** The Tidemark side as one bundled file, like the shipped CLI (no TypeScript loader in its memory). */
async function bundleChild(dir: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(dir, 'tidemark-side.mjs');
  await build({
    entryPoints: [thisFile],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile,
    external: ['esbuild'],
    logLevel: 'warning',
  });
  return outfile;
}

async function runTidemark(bundle: string, input: string, dir: string): Promise<SideResult> {
  const zoneDir = join(dir, 'zone');
  await mkdir(zoneDir);
  const gnuTime = existsSync('/usr/bin/time');
  const node = [process.execPath, bundle, '--child', input, zoneDir];
  const [command, args] = gnuTime ? ['/usr/bin/time', ['-v', ...node]] : [node[0]!, node.slice(1)];
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>(
    (resolve, reject) => {
      const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout.on('data', (d: Buffer) => (out += d));
      proc.stderr.on('data', (d: Buffer) => (err += d));
      proc.on('close', (code) =>
        code === 0
          ? resolve({ stdout: out, stderr: err })
          : reject(new Error(`Tidemark side failed (${code}): ${err}`)),
      );
    },
  );
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as SideResult;
  const maxRss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (maxRss) result.peakRssBytes = Math.max(result.peakRssBytes ?? 0, Number(maxRss[1]) * 1024);
  await rm(zoneDir, { recursive: true, force: true });
  return result;
}

async function runOpenssl(input: string, dir: string): Promise<SideResult> {
  const output = join(dir, 'openssl.out');
  const started = performance.now();
  await run('openssl', [
    'enc',
    '-aes-256-ctr',
    '-pbkdf2',
    '-pass',
    'pass:x',
    '-in',
    input,
    '-out',
    output,
  ]);
  await run('sync', [output]);
  const ms = performance.now() - started;
  await rm(output, { force: true });
  return { ms };
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const rate = (bytes: number, ms: number) => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`;

async function main(): Promise<void> {
  const totalMiB = Number(process.argv[2] ?? 1024);
  const bytes = totalMiB * MiB;
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-bench-'));
  try {
    const input = join(dir, 'input.bin');
    console.log(`Generating ${totalMiB} MiB of input (half random, half compressible) in ${dir} …`);
    await generateInput(input, bytes);
    const bundle = await bundleChild(dir);
    const tidemark: SideResult[] = [];
    const openssl: SideResult[] = [];
    for (let round = 0; round < 2; round++) {
      openssl.push(await runOpenssl(input, dir));
      tidemark.push(await runTidemark(bundle, input, dir));
    }
    const bestT = tidemark.reduce((a, b) => (b.ms < a.ms ? b : a));
    const bestO = openssl.reduce((a, b) => (b.ms < a.ms ? b : a));
    const peak = Math.max(...tidemark.map((t) => t.peakRssBytes ?? 0));
    const ratio = bestT.ms / bestO.ms;
    console.log(
      `openssl enc -aes-256-ctr + sync: ${(bestO.ms / 1000).toFixed(2)} s (${rate(bytes, bestO.ms)}); runs: ${openssl.map((o) => (o.ms / 1000).toFixed(2)).join(', ')} s`,
    );
    console.log(
      `Tidemark putObject (AES-256-GCM, folder zone, fsync): ${(bestT.ms / 1000).toFixed(2)} s (${rate(bytes, bestT.ms)}); runs: ${tidemark.map((t) => (t.ms / 1000).toFixed(2)).join(', ')} s`,
    );
    console.log(
      `ratio Tidemark / openssl: ${ratio.toFixed(2)} (target ≤ 1.2) ${ratio <= 1.2 ? 'OK' : 'ABOVE TARGET'}`,
    );
    console.log(
      `Tidemark peak RSS: ${mb(peak)} (process baseline before the write ${mb(bestT.baselineRssBytes ?? 0)}; target < 150 MB) ${peak < 150e6 ? 'OK' : 'ABOVE TARGET'}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!, process.argv[4]!);
else await main();
