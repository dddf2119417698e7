/**
 * Deterministic offline animated-GIF renderer for the demo video provider.
 * Each frame is the image renderer's scene at phase t = frame/frames (hue
 * drifts, blobs orbit), so the clip loops seamlessly and depends only on
 * prompt+seed. Frames are quantised per frame to a 256-colour palette.
 */
import * as gifenc from 'gifenc';
import { assertDimension, paintScene } from './render-image.js';

// gifenc is CommonJS. Node's ESM loader cannot detect its named exports and
// exposes only `default` (= module.exports); CJS/interop loaders expose the
// named exports directly. Accept either shape.
const { GIFEncoder, quantize, applyPalette } =
  typeof gifenc.GIFEncoder === 'function' ? gifenc : gifenc.default;

export interface VideoOptions {
  prompt: string;
  seed: number;
  /** Defaults to 256. */
  width?: number;
  /** Defaults to 144. */
  height?: number;
  /** Defaults to 12. */
  frames?: number;
  /** Playback rate; defaults to 10 (100 ms per frame). */
  fps?: number;
}

export const VIDEO_DEFAULTS = { width: 256, height: 144, frames: 12, fps: 10 } as const;
const MAX_SIDE = 1024;
const MAX_FRAMES = 240;

/** Render a deterministic, endlessly looping animated GIF for prompt+seed. */
export function renderVideo(opts: VideoOptions): Buffer {
  const width = opts.width ?? VIDEO_DEFAULTS.width;
  const height = opts.height ?? VIDEO_DEFAULTS.height;
  const frames = opts.frames ?? VIDEO_DEFAULTS.frames;
  const fps = opts.fps ?? VIDEO_DEFAULTS.fps;
  assertDimension('width', width, MAX_SIDE);
  assertDimension('height', height, MAX_SIDE);
  assertDimension('frames', frames, MAX_FRAMES);
  if (!Number.isFinite(fps) || fps <= 0 || fps > 100) throw new RangeError(`fps must be in (0, 100], got ${fps}`);

  const gif = GIFEncoder();
  const delay = Math.round(1000 / fps);
  for (let f = 0; f < frames; f++) {
    const rgba = paintScene({ prompt: opts.prompt, seed: opts.seed, width, height, t: f / frames });
    const palette = quantize(rgba, 256);
    const index = applyPalette(rgba, palette);
    gif.writeFrame(index, width, height, { palette, delay, repeat: 0 });
  }
  gif.finish();
  const bytes = gif.bytes(); // exact-size copy, so no spare encoder capacity is retained
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
