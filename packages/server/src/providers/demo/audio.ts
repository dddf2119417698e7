/** `demo-audio`: renders a real WAV clip (a short melody), deterministic from prompt + seed. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Provider } from '../../core/ports.js';
import type { JsonObject } from '../../core/types.js';
import { demoOptionsSchema, failIfAsked, moderate, describeInput, parseWith, pickSeed, seedSchema, simulateWork } from './common.js';
import { renderAudio } from './render-audio.js';
import { renderInWorker } from './offload.js';

const inputSchema = z.looseObject({
  prompt: z.string().max(8000).optional(),
  lyric: z.string().max(20000).optional(),
  title: z.string().max(200).optional(),
  seed: seedSchema.optional(),
  duration: z.number().min(0.5).max(120).optional(),
});

export const audioOptionsSchema = demoOptionsSchema.extend({
  defaultDurationSec: z.number().min(0.5).max(120).default(8),
});

export function createDemoAudioProvider(options: unknown): Provider {
  const opts = audioOptionsSchema.parse(options ?? {});
  return {
    name: 'demo-audio',
    inputSchema: describeInput(inputSchema),
    parseInput(input: JsonObject): JsonObject {
      const parsed = parseWith(inputSchema, input);
      return Object.assign({}, input, { duration: parsed.duration ?? opts.defaultDurationSec }); // not `{ ...input, … }`: slow on Node 20
    },
    async run(ctx) {
      const parsed = parseWith(inputSchema, ctx.input);
      const prompt = parsed.prompt ?? parsed.lyric ?? '';
      moderate(`${prompt} ${parsed.title ?? ''}`, opts);
      const seed = pickSeed(parsed.seed);
      const durationSec = parsed.duration ?? opts.defaultDurationSec;
      await simulateWork(ctx, opts, 'composing');
      failIfAsked(`${prompt} ${parsed.title ?? ''}`, opts);
      const wav = await renderInWorker('audio', { prompt, seed, durationSec }, ctx.signal, renderAudio);
      const stored = await ctx.files.write('audio.wav', 'audio/wav', wav);
      const title = parsed.title ?? (prompt.split(/\s+/).slice(0, 6).join(' ') || 'Untitled');
      return {
        seed,
        files: [{ id: randomUUID(), kind: 'audio', durationSec, ...stored }],
        data: { prompt, title },
      };
    },
  };
}
