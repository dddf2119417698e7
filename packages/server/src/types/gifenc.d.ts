/**
 * Minimal ambient types for `gifenc` (ships none). Only what the demo video
 * renderer uses. gifenc is CommonJS; under Node ESM only its default export
 * (the module.exports object) is reliably available, so both shapes are typed.
 */
declare module 'gifenc' {
  /** RGB or RGBA colour entries, each channel 0..255. */
  export type Palette = number[][];
  export type PaletteFormat = 'rgb565' | 'rgb444' | 'rgba4444';

  export interface WriteFrameOptions {
    palette?: Palette;
    /** Frame delay in milliseconds. */
    delay?: number;
    /** -1 = play once, 0 = loop forever, >0 = loop count. */
    repeat?: number;
  }

  export interface Encoder {
    writeFrame(index: Uint8Array, width: number, height: number, opts?: WriteFrameOptions): void;
    finish(): void;
    /** Copy of the encoded bytes so far. */
    bytes(): Uint8Array;
  }

  export function GIFEncoder(opts?: { initialCapacity?: number }): Encoder;
  export function quantize(rgba: Uint8Array | Uint8ClampedArray, maxColors: number, opts?: { format?: PaletteFormat }): Palette;
  export function applyPalette(rgba: Uint8Array | Uint8ClampedArray, palette: Palette, format?: PaletteFormat): Uint8Array;

  const gifenc: {
    GIFEncoder: typeof GIFEncoder;
    quantize: typeof quantize;
    applyPalette: typeof applyPalette;
  };
  export default gifenc;
}
