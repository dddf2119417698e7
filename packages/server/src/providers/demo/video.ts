/** `demo-video`: renders a short animated GIF, deterministic from prompt + seed (heavy, async). */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Provider } from '../../core/ports.js';
import type { JsonObject } from '../../core/types.js';
import { demoOptionsSchema, failIfAsked, moderate, describeInput, parseWith, pickSeed, seedSchema, simulateWork } from './common.js';
import { renderVideo } from './render-video.js';
import { renderInWorker } from './offload.js';

const inputSchema = z.looseObject({
  prompt: z.string().trim().min(1, 'prompt is required').max(8000),
  seed: seedSchema.optional(),
  width: z.number().int().min(32).max(640).optional(),
  height: z.number().int().min(32).max(640).optional(),
  frames: z.number().int().min(2).max(60).optional(),
});

export const videoOptionsSchema = demoOptionsSchema.extend({
  latencyMs: z.number().int().min(0).max(3_600_000).default(4000),
  defaultWidth: z.number().int().min(32).max(640).default(256),
  defaultHeight: z.number().int().min(32).max(640).default(144),
  defaultFrames: z.number().int().min(2).max(60).default(12),
});

export function createDemoVideoProvider(options: unknown): Provider {
  const opts = videoOptionsSchema.parse(options ?? {});
  return {
    name: 'demo-video',
    inputSchema: describeInput(inputSchema),
    parseInput(input: JsonObject): JsonObject {
      const parsed = parseWith(inputSchema, input);
      return Object.assign({}, input, { prompt: parsed.prompt }); // not `{ ...input, … }`: slow on Node 20
    },
    async run(ctx) {
      const parsed = parseWith(inputSchema, ctx.input);
      moderate(parsed.prompt, opts);
      const seed = pickSeed(parsed.seed);
      await simulateWork(ctx, opts, 'animating');
      failIfAsked(parsed.prompt, opts);
      const width = parsed.width ?? opts.defaultWidth;
      const height = parsed.height ?? opts.defaultHeight;
      const frames = parsed.frames ?? opts.defaultFrames;
      const gif = await renderInWorker('video', { prompt: parsed.prompt, seed, width, height, frames }, ctx.signal, renderVideo);
      const stored = await ctx.files.write('video.gif', 'image/gif', gif);
      return {
        seed,
        files: [{ id: randomUUID(), kind: 'video', width, height, durationSec: frames / 10, ...stored }],
        data: { prompt: parsed.prompt },
      };
    },
  };
}
