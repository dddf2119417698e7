/**
 * The demo upscale: one image of a 2×2 grid, twice as large. The grid is the parent PNG; image
 * `index` is its quadrant as Midjourney numbers them (1 top left, 2 top right, 3 bottom left,
 * 4 bottom right). Each quadrant is ⌊w/2⌋ × ⌊h/2⌋ pixels (on an odd size the middle row or column
 * belongs to no quadrant); the result is 2⌊w/2⌋ × 2⌊h/2⌋.
 *
 * Scaling is linear between neighbouring source pixels, aligned so that the pixel at (2x, 2y) of
 * the result is exactly the quadrant's pixel (x, y) and the pixels between are their averages
 * (the quadrant's last row and column are repeated at the edge).
 */
import { PNG } from 'pngjs';

export interface UpscaleOptions {
  /** The parent image, PNG-encoded. */
  png: Uint8Array;
  index: 1 | 2 | 3 | 4;
}

/** Where quadrant `index` of a w×h image starts, and its size. */
export function quadrant(width: number, height: number, index: 1 | 2 | 3 | 4): { x: number; y: number; w: number; h: number } {
  const w = Math.floor(width / 2);
  const h = Math.floor(height / 2);
  const right = index === 2 || index === 4;
  const bottom = index === 3 || index === 4;
  return { x: right ? width - w : 0, y: bottom ? height - h : 0, w, h };
}

export function upscaleQuadrant(opts: UpscaleOptions): Buffer {
  const src = PNG.sync.read(Buffer.from(opts.png.buffer, opts.png.byteOffset, opts.png.byteLength));
  const q = quadrant(src.width, src.height, opts.index);
  if (q.w < 1 || q.h < 1) throw new RangeError(`a ${src.width}×${src.height} image has no quadrants`);
  const outW = q.w * 2;
  const outH = q.h * 2;
  const out = new PNG({ width: outW, height: outH });
  const at = (x: number, y: number, c: number): number => src.data[((q.y + y) * src.width + q.x + x) * 4 + c]!;
  for (let Y = 0; Y < outH; Y++) {
    const y0 = Y >> 1;
    const y1 = Y & 1 ? Math.min(y0 + 1, q.h - 1) : y0;
    for (let X = 0; X < outW; X++) {
      const x0 = X >> 1;
      const x1 = X & 1 ? Math.min(x0 + 1, q.w - 1) : x0;
      const i = (Y * outW + X) * 4;
      for (let c = 0; c < 3; c++) {
        out.data[i + c] = (at(x0, y0, c) + at(x1, y0, c) + at(x0, y1, c) + at(x1, y1, c) + 2) >> 2;
      }
      out.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(out, { colorType: 2, deflateLevel: 6 });
}
