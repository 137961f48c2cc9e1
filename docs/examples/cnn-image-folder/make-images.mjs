// Writes the PNG images of this example (run once; the images are committed): 16×16 RGB pictures of
// three kinds — horizontal stripes, vertical stripes, a checkerboard — with random colours, phase
// and noise, 40 per class for training and 10 for testing, from a fixed seed.
// node docs/examples/cnn-image-folder/make-images.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';

const root = join(dirname(fileURLToPath(import.meta.url)), 'images');
let s = 20261204;
const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
const kinds = {
  'stripes-h': (x, y, p) => ((y + p) >> 1) % 2,
  'stripes-v': (x, y, p) => ((x + p) >> 1) % 2,
  checker: (x, y, p) => (((x + p) >> 2) + ((y + p) >> 2)) % 2,
};
for (const [split, count] of [
  ['train', 40],
  ['test', 10],
]) {
  for (const [name, on] of Object.entries(kinds)) {
    const dir = join(root, split, name);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < count; i++) {
      const png = new PNG({ width: 16, height: 16 });
      const a = [rand(), rand(), rand()].map((v) => 64 + v * 191);
      const b = [rand(), rand(), rand()].map((v) => v * 96);
      const phase = Math.floor(rand() * 4);
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          const c = on(x, y, phase) ? a : b;
          const k = 4 * (y * 16 + x);
          for (let ch = 0; ch < 3; ch++)
            png.data[k + ch] = Math.max(0, Math.min(255, Math.round(c[ch] + (rand() - 0.5) * 60)));
          png.data[k + 3] = 255;
        }
      }
      writeFileSync(join(dir, `${String(i).padStart(3, '0')}.png`), PNG.sync.write(png));
    }
  }
}
