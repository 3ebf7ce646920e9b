// Draws the app icon (resources/icon.png, 512×512): a deep-blue rounded square with a
// white tide line over a lighter sea. Run `node resources/make-icon.mjs` to regenerate.
/* global console */
import { Buffer } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import { URL } from 'node:url';
import { deflateSync } from 'node:zlib';

const size = 512;
const samples = 4; // per axis, for anti-aliased edges

const background = [14, 53, 97];
const sea = [38, 132, 196];
const line = [255, 255, 255];

/** Colour and coverage (0..1) of one sample point in icon coordinates 0..1. */
function shade(x, y) {
  const r = 0.19; // corner radius of the rounded square
  const dx = Math.max(r - x, 0, x - (1 - r));
  const dy = Math.max(r - y, 0, y - (1 - r));
  if (dx * dx + dy * dy > r * r) return null;
  const wave = (phase) => 0.56 + 0.055 * Math.sin((x * 2.2 + phase) * Math.PI * 2);
  if (Math.abs(y - wave(0)) < 0.03) return line;
  if (y > wave(0)) return sea;
  if (Math.abs(y - (wave(0.25) - 0.2)) < 0.02 && x > 0.26 && x < 0.74) return sea;
  return background;
}

const rows = [];
for (let py = 0; py < size; py++) {
  const row = Buffer.alloc(1 + size * 4);
  for (let px = 0; px < size; px++) {
    const acc = [0, 0, 0];
    let hits = 0;
    for (let sy = 0; sy < samples; sy++) {
      for (let sx = 0; sx < samples; sx++) {
        const c = shade((px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size);
        if (!c) continue;
        hits++;
        for (let i = 0; i < 3; i++) acc[i] += c[i];
      }
    }
    const o = 1 + px * 4;
    if (hits > 0) for (let i = 0; i < 3; i++) row[o + i] = Math.round(acc[i] / hits);
    row[o + 3] = Math.round((255 * hits) / (samples * samples));
  }
  rows.push(row);
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(size, 0);
ihdr.writeUInt32BE(size, 4);
ihdr[8] = 8; // bit depth
ihdr[9] = 6; // RGBA
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('IDAT', deflateSync(Buffer.concat(rows), { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
writeFileSync(new URL('./icon.png', import.meta.url), png);
console.log(`icon.png written (${png.length} bytes)`);
