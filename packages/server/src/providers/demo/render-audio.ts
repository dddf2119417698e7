/**
 * Deterministic offline WAV renderer for the demo audio provider.
 * Produces mono 16-bit PCM (RIFF/WAVE, format 1) holding a short pentatonic
 * melody chosen by seededRandom(`${seed}:${prompt}`). Notes have a linear
 * attack, exponential decay and a short release so they never click.
 */
import { renderSeedText, seededRandom } from './prng.js';

export interface AudioOptions {
  prompt: string;
  seed: number;
  durationSec: number;
  /** Samples per second; defaults to 22050. */
  sampleRate?: number;
}

export interface WavInfo {
  audioFormat: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  blockAlign: number;
  dataBytes: number;
}

export const DEFAULT_SAMPLE_RATE = 22050;
const HEADER_BYTES = 44;
const MAX_DURATION_SEC = 600;
const PENTATONIC = [0, 2, 4, 7, 9];
const AMPLITUDE = 0.3;

interface Note {
  start: number;
  length: number;
  freq: number;
}

/** Choose a melody that covers `durationSec` (in seconds, sequential, non-overlapping). */
function composeMelody(rand: () => number, durationSec: number): Note[] {
  const root = 57 + Math.floor(rand() * 8); // MIDI A3..E4
  const beat = 0.18 + rand() * 0.17;
  const notes: Note[] = [];
  let degree = Math.floor(rand() * PENTATONIC.length);
  for (let time = 0; time < durationSec;) {
    const beats = rand() < 0.7 ? 1 : 2;
    degree = Math.min(9, Math.max(0, degree + Math.floor(rand() * 5) - 2));
    const midi = root + 12 * Math.floor(degree / 5) + (PENTATONIC[degree % 5] ?? 0);
    if (rand() >= 0.1) notes.push({ start: time, length: beats * beat, freq: 440 * 2 ** ((midi - 69) / 12) });
    time += beats * beat;
  }
  return notes;
}

function writeHeader(buf: Buffer, sampleRate: number, samples: number): void {
  const dataBytes = samples * 2;
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16); // fmt chunk size
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28); // byte rate
  buf.writeUInt16LE(2, 32); // block align
  buf.writeUInt16LE(16, 34); // bits per sample
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
}

/** Render a deterministic mono 16-bit PCM WAV of exactly round(durationSec*sampleRate) samples. */
export function renderAudio(opts: AudioOptions): Buffer {
  const sampleRate = opts.sampleRate ?? DEFAULT_SAMPLE_RATE;
  if (!Number.isInteger(sampleRate) || sampleRate < 8000 || sampleRate > 192000) {
    throw new RangeError(`sampleRate must be an integer in 8000..192000, got ${sampleRate}`);
  }
  const { durationSec } = opts;
  if (!Number.isFinite(durationSec) || durationSec < 0 || durationSec > MAX_DURATION_SEC) {
    throw new RangeError(`durationSec must be in 0..${MAX_DURATION_SEC}, got ${durationSec}`);
  }
  const total = Math.round(durationSec * sampleRate);
  const pcm = new Float32Array(total);
  const rand = seededRandom(renderSeedText(opts.prompt, opts.seed));
  const attack = Math.round(0.01 * sampleRate);
  const release = Math.round(0.02 * sampleRate);

  for (const note of composeMelody(rand, durationSec)) {
    const first = Math.round(note.start * sampleRate);
    const len = Math.round(note.length * sampleRate);
    const decay = 2.5 / note.length;
    const w = (2 * Math.PI * note.freq) / sampleRate;
    for (let j = 0; j < len && first + j < total; j++) {
      let env = Math.exp((-decay * j) / sampleRate);
      if (j < attack) env *= j / attack;
      if (len - j < release) env *= (len - j) / release;
      const tone = Math.sin(w * j) + 0.3 * Math.sin(2 * w * j) + 0.1 * Math.sin(3 * w * j);
      pcm[first + j] = (AMPLITUDE * env * tone) / 1.4;
    }
  }

  const fade = Math.min(total, release); // notes cut off by the end still fade out
  for (let j = 0; j < fade; j++) pcm[total - 1 - j]! *= j / fade;

  const buf = Buffer.alloc(HEADER_BYTES + total * 2);
  writeHeader(buf, sampleRate, total);
  for (let j = 0; j < total; j++) {
    const s = Math.max(-1, Math.min(1, pcm[j]!));
    buf.writeInt16LE(Math.round(s * 32767), HEADER_BYTES + j * 2);
  }
  return buf;
}

/** Parse the RIFF/WAVE header (walking chunks) and return format details. */
export function readWavInfo(buf: Buffer): WavInfo {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let fmt: Omit<WavInfo, 'dataBytes'> | undefined;
  for (let off = 12; off + 8 <= buf.length;) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ' && body + 16 <= buf.length) {
      fmt = {
        audioFormat: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        blockAlign: buf.readUInt16LE(body + 12),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('WAV data chunk before fmt chunk');
      return { ...fmt, dataBytes: Math.min(size, buf.length - body) };
    }
    off = body + size + (size & 1);
  }
  throw new Error('WAV file has no data chunk');
}

/** Duration in seconds of the PCM data in a WAV buffer. */
export function wavDurationSec(buf: Buffer): number {
  const info = readWavInfo(buf);
  if (info.sampleRate === 0 || info.blockAlign === 0) throw new Error('invalid WAV fmt chunk');
  return info.dataBytes / (info.sampleRate * info.blockAlign);
}
