/** `demo-image`: renders a real PNG, deterministic from prompt + seed, with progress reports. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Provider } from '../../core/ports.js';
import type { JsonObject } from '../../core/types.js';
import { demoOptionsSchema, moderate, parseWith, pickSeed, seedSchema, simulateWork } from './common.js';
import { renderImage } from './render-image.js';
import { renderInWorker } from './offload.js';

const dimension = z.number().int().min(64).max(2048);

const inputSchema = z.looseObject({
  prompt: z.string().trim().min(1, 'prompt is required').max(8000),
  seed: seedSchema.optional(),
  width: dimension.optional(),
  height: dimension.optional(),
});

export const imageOptionsSchema = demoOptionsSchema.extend({
  defaultWidth: dimension.default(1024),
  defaultHeight: dimension.default(1024),
});

export function createDemoImageProvider(options: unknown): Provider {
  const opts = imageOptionsSchema.parse(options ?? {});
  return {
    name: 'demo-image',
    parseInput(input: JsonObject): JsonObject {
      const parsed = parseWith(inputSchema, input);
      return { ...input, prompt: parsed.prompt, width: parsed.width ?? opts.defaultWidth, height: parsed.height ?? opts.defaultHeight };
    },
    async run(ctx) {
      const { prompt, width, height, seed: given } = parseWith(inputSchema, ctx.input);
      moderate(prompt, opts);
      const seed = pickSeed(given);
      await simulateWork(ctx, opts, 'rendering');
      const w = width ?? opts.defaultWidth;
      const h = height ?? opts.defaultHeight;
      const png = await renderInWorker('image', { prompt, seed, width: w, height: h }, ctx.signal, renderImage);
      const stored = await ctx.files.write('image.png', 'image/png', png);
      return {
        seed,
        files: [{ id: randomUUID(), kind: 'image', width: w, height: h, ...stored }],
        data: { prompt },
      };
    },
  };
}
