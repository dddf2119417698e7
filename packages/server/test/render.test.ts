/**
 * Tests for the deterministic demo media renderers (PNG, WAV, GIF).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { renderImage, seededRandom } from '../src/providers/demo/render-image.js';
import { readWavInfo, renderAudio, wavDurationSec } from '../src/providers/demo/render-audio.js';
import { renderVideo } from '../src/providers/demo/render-video.js';

/** Count GIF frames by walking the block structure (robust against 0x2C inside LZW data). */
function countGifFrames(buf: Buffer): number {
  const flags = buf[10] ?? 0;
  let off = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
  let frames = 0;
  const skipSubBlocks = (): void => {
    while ((buf[off] ?? 0) !== 0) off += (buf[off] ?? 0) + 1;
    off += 1;
  };
  while (off < buf.length) {
    const tag = buf[off];
    if (tag === 0x3b) return frames;
    if (tag === 0x21) {
      off += 2;
      skipSubBlocks();
    } else if (tag === 0x2c) {
      frames++;
      const local = buf[off + 9] ?? 0;
      off += 10 + (local & 0x80 ? 3 * 2 ** ((local & 7) + 1) : 0);
      off += 1; // LZW minimum code size
      skipSubBlocks();
    } else {
      throw new Error(`unexpected GIF block 0x${(tag ?? 0).toString(16)} at ${off}`);
    }
  }
  throw new Error('GIF has no trailer');
}

test('seededRandom is deterministic and seed-sensitive', () => {
  const a = seededRandom('x');
  const b = seededRandom('x');
  const c = seededRandom('y');
  const seqA = [a(), a(), a()];
  assert.deepEqual(seqA, [b(), b(), b()]);
  assert.notDeepEqual(seqA, [c(), c(), c()]);
  for (const v of seqA) assert.ok(v >= 0 && v < 1);
});

test('renderImage produces a decodable PNG of the requested size', () => {
  const buf = renderImage({ prompt: 'a red fox', seed: 7, width: 320, height: 200 });
  const png = PNG.sync.read(buf);
  assert.equal(png.width, 320);
  assert.equal(png.height, 200);
  // Not a flat fill: the picture has some variety.
  const colours = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4 * 97) colours.add(png.data.readUInt32BE(i));
  assert.ok(colours.size > 50, `only ${colours.size} distinct colours sampled`);
});

test('renderImage is deterministic and depends on seed and prompt', () => {
  const base = { prompt: 'a red fox', seed: 7, width: 128, height: 96 };
  const a = renderImage(base);
  assert.ok(a.equals(renderImage({ ...base })));
  assert.ok(!a.equals(renderImage({ ...base, seed: 8 })));
  assert.ok(!a.equals(renderImage({ ...base, prompt: 'a blue fox' })));
});

test('renderImage rejects invalid dimensions', () => {
  assert.throws(() => renderImage({ prompt: 'p', seed: 1, width: 0, height: 10 }), RangeError);
  assert.throws(() => renderImage({ prompt: 'p', seed: 1, width: 10.5, height: 10 }), RangeError);
});

test('renderAudio produces a mono 16-bit PCM WAV of the requested duration', () => {
  const buf = renderAudio({ prompt: 'calm piano', seed: 3, durationSec: 2.5 });
  assert.equal(buf.toString('ascii', 0, 4), 'RIFF');
  assert.equal(buf.readUInt32LE(4), buf.length - 8);
  assert.equal(buf.toString('ascii', 8, 12), 'WAVE');
  const info = readWavInfo(buf);
  assert.equal(info.audioFormat, 1);
  assert.equal(info.channels, 1);
  assert.equal(info.bitsPerSample, 16);
  assert.equal(info.sampleRate, 22050);
  assert.equal(info.dataBytes, Math.round(2.5 * 22050) * 2);
  assert.equal(buf.length, 44 + info.dataBytes);
  assert.equal(wavDurationSec(buf), 2.5);
  // Audible but not clipped, and silent at both ends (no clicks).
  let peak = 0;
  for (let i = 44; i < buf.length; i += 2) peak = Math.max(peak, Math.abs(buf.readInt16LE(i)));
  assert.ok(peak > 1000 && peak < 32767, `peak ${peak}`);
  assert.equal(buf.readInt16LE(44), 0);
  assert.equal(buf.readInt16LE(buf.length - 2), 0);
});

test('renderAudio honours sampleRate and is deterministic', () => {
  const opts = { prompt: 'calm piano', seed: 3, durationSec: 1.25, sampleRate: 8000 };
  const a = renderAudio(opts);
  assert.equal(readWavInfo(a).sampleRate, 8000);
  assert.equal(wavDurationSec(a), 1.25);
  assert.ok(a.equals(renderAudio({ ...opts })));
  assert.ok(!a.equals(renderAudio({ ...opts, seed: 4 })));
  assert.ok(!a.equals(renderAudio({ ...opts, prompt: 'loud drums' })));
});

test('renderVideo produces an animated GIF89a of the requested size', () => {
  const buf = renderVideo({ prompt: 'waves', seed: 11, width: 96, height: 64, frames: 6 });
  assert.equal(buf.toString('ascii', 0, 6), 'GIF89a');
  assert.equal(buf.readUInt16LE(6), 96);
  assert.equal(buf.readUInt16LE(8), 64);
  assert.equal(countGifFrames(buf), 6);
  assert.equal(buf[buf.length - 1], 0x3b);
});

test('renderVideo defaults to 256x144 with 12 frames', () => {
  const buf = renderVideo({ prompt: 'waves', seed: 11 });
  assert.equal(buf.readUInt16LE(6), 256);
  assert.equal(buf.readUInt16LE(8), 144);
  assert.equal(countGifFrames(buf), 12);
});

test('renderVideo is deterministic and depends on seed and prompt', () => {
  const base = { prompt: 'waves', seed: 11, width: 64, height: 48, frames: 4 };
  const a = renderVideo(base);
  assert.ok(a.equals(renderVideo({ ...base })));
  assert.ok(!a.equals(renderVideo({ ...base, seed: 12 })));
  assert.ok(!a.equals(renderVideo({ ...base, prompt: 'clouds' })));
});
