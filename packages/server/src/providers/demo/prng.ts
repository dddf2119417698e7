/**
 * Seeded pseudo-random numbers shared by the demo media renderers.
 * A seed text is hashed with sha256 and the first 32 bits seed a mulberry32
 * generator, so identical text always yields the identical sequence.
 */
import { createHash } from 'node:crypto';

/** Hash arbitrary text to an unsigned 32-bit integer (first 4 bytes of sha256). */
export function hashSeed(seedText: string): number {
  return createHash('sha256').update(seedText, 'utf8').digest().readUInt32LE(0);
}

/** mulberry32: tiny, fast 32-bit PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic generator for `seedText` (sha256 → mulberry32). */
export function seededRandom(seedText: string): () => number {
  return mulberry32(hashSeed(seedText));
}

/** The canonical seed text the renderers derive everything from. */
export function renderSeedText(prompt: string, seed: number): string {
  return `${seed}:${prompt}`;
}
