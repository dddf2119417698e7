/**
 * Deterministic offline PNG renderer for the demo image provider.
 * Paints a smooth multi-stop gradient with a soft vignette and a handful of
 * blended blobs. Every parameter comes from seededRandom(`${seed}:${prompt}`),
 * so identical inputs give byte-identical PNGs. `paintScene` also takes an
 * animation phase `t` and is reused by the video renderer.
 */
import { PNG } from 'pngjs';
import { renderSeedText, seededRandom } from './prng.js';

export { seededRandom } from './prng.js';

export interface ImageOptions {
  prompt: string;
  seed: number;
  width: number;
  height: number;
}

export interface SceneOptions extends ImageOptions {
  /** Animation phase in [0, 1); the motion loops seamlessly. Defaults to 0. */
  t?: number;
}

type Rgb = [number, number, number];

interface Blob {
  x: number;
  y: number;
  radius: number;
  hue: number;
  light: number;
  alpha: number;
  orbit: number;
  phase: number;
}

interface Scene {
  hue: number;
  spread: number;
  sat: number;
  light: number;
  angle: number;
  blobs: Blob[];
}

/** Throw a RangeError unless `value` is an integer in 1..max. */
export function assertDimension(name: string, value: number, max = 4096): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer in 1..${max}, got ${value}`);
  }
}

/** HSL (hue in degrees, s and l in 0..1) to RGB floats in 0..255. */
function hslToRgb(h: number, s: number, l: number): Rgb {
  const hh = (((h % 360) + 360) % 360) / 60;
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs((hh % 2) - 1));
  const m = l - c / 2;
  const [r, g, b]: Rgb =
    hh < 1 ? [c, x, 0] : hh < 2 ? [x, c, 0] : hh < 3 ? [0, c, x] :
    hh < 4 ? [0, x, c] : hh < 5 ? [x, 0, c] : [c, 0, x];
  return [(r + m) * 255, (g + m) * 255, (b + m) * 255];
}

function buildScene(prompt: string, seed: number): Scene {
  const rand = seededRandom(renderSeedText(prompt, seed));
  const hue = rand() * 360;
  const sat = 0.45 + rand() * 0.4;
  const scene: Scene = {
    hue, sat, spread: 40 + rand() * 110, light: 0.32 + rand() * 0.22, angle: rand() * Math.PI * 2, blobs: [],
  };
  const count = 5 + Math.floor(rand() * 5);
  for (let i = 0; i < count; i++) {
    scene.blobs.push({
      x: rand(), y: rand(), radius: 0.08 + rand() * 0.24,
      hue: hue + (rand() - 0.5) * 200, light: 0.5 + rand() * 0.3, alpha: 0.35 + rand() * 0.45,
      orbit: 0.03 + rand() * 0.09, phase: rand(),
    });
  }
  return scene;
}

/** Paint the scene for `opts` at phase `t` into a fresh RGBA buffer (byteOffset 0). */
export function paintScene(opts: SceneOptions): Uint8Array {
  const { width: w, height: h } = opts;
  assertDimension('width', w);
  assertDimension('height', h);
  const scene = buildScene(opts.prompt, opts.seed);
  const turn = 2 * Math.PI * (opts.t ?? 0);
  const shift = 40 * Math.sin(turn);
  const [s0, s1, s2] = [0, 1, 2].map((i) =>
    hslToRgb(scene.hue + shift + (i * scene.spread) / 2, scene.sat, scene.light + (i - 1) * 0.08)) as [Rgb, Rgb, Rgb];
  const out = new Uint8Array(w * h * 4);

  // Background: linear gradient along `angle` through three stops, times a vignette.
  const cos = Math.cos(scene.angle);
  const sin = Math.sin(scene.angle);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const span = Math.abs(cos) * w + Math.abs(sin) * h;
  const invDiag = 1 / (cx * cx + cy * cy || 1);
  for (let y = 0; y < h; y++) {
    const dy = y - cy;
    for (let x = 0; x < w; x++) {
      const dx = x - cx;
      const u = Math.min(1, Math.max(0, ((dx * cos + dy * sin) / span) + 0.5));
      const v = 1 - 0.4 * (dx * dx + dy * dy) * invDiag;
      const lo = u < 0.5 ? s0 : s1;
      const hi = u < 0.5 ? s1 : s2;
      const k = u < 0.5 ? u * 2 : u * 2 - 1;
      const i = (y * w + x) * 4;
      out[i] = ((lo[0] + (hi[0] - lo[0]) * k) * v + 0.5) | 0;
      out[i + 1] = ((lo[1] + (hi[1] - lo[1]) * k) * v + 0.5) | 0;
      out[i + 2] = ((lo[2] + (hi[2] - lo[2]) * k) * v + 0.5) | 0;
      out[i + 3] = 255;
    }
  }

  // Blobs: soft discs with weight alpha * (1 - d²/r²)², visiting only their chord.
  const minDim = Math.min(w, h);
  for (const blob of scene.blobs) {
    const ang = turn + 2 * Math.PI * blob.phase;
    const bx = (blob.x + blob.orbit * Math.cos(ang)) * w;
    const by = (blob.y + blob.orbit * Math.sin(ang)) * h;
    const r2 = (blob.radius * minDim) ** 2;
    const [cr, cg, cb] = hslToRgb(blob.hue + shift, Math.min(1, scene.sat + 0.1), blob.light);
    const y0 = Math.max(0, Math.ceil(by - Math.sqrt(r2)));
    const y1 = Math.min(h - 1, Math.floor(by + Math.sqrt(r2)));
    for (let y = y0; y <= y1; y++) {
      const dy2 = (y - by) ** 2;
      const half = Math.sqrt(Math.max(0, r2 - dy2));
      const x0 = Math.max(0, Math.ceil(bx - half));
      const x1 = Math.min(w - 1, Math.floor(bx + half));
      for (let x = x0; x <= x1; x++) {
        const f = 1 - ((x - bx) ** 2 + dy2) / r2;
        if (f <= 0) continue;
        const wgt = blob.alpha * f * f;
        const i = (y * w + x) * 4;
        out[i] = (out[i]! + (cr - out[i]!) * wgt + 0.5) | 0;
        out[i + 1] = (out[i + 1]! + (cg - out[i + 1]!) * wgt + 0.5) | 0;
        out[i + 2] = (out[i + 2]! + (cb - out[i + 2]!) * wgt + 0.5) | 0;
      }
    }
  }
  return out;
}

/** Render a deterministic RGB PNG for prompt+seed at width×height. */
export function renderImage(opts: ImageOptions): Buffer {
  const rgba = paintScene(opts);
  const png = new PNG({ width: opts.width, height: opts.height });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return PNG.sync.write(png, { colorType: 2, deflateLevel: 6 });
}
