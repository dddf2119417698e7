/**
 * `demo-image`: renders a real PNG, deterministic from prompt + seed, with progress reports; and
 * the follow-up actions on one (upscale, variation, reroll: follow-up.ts).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Provider } from '../../core/ports.js';
import type { JsonObject } from '../../core/types.js';
import { demoOptionsSchema, failIfAsked, moderate, describeInput, parseWith, pickSeed, seedSchema, simulateWork } from './common.js';
import { parseImageFollowUp, runImageFollowUp } from './follow-up.js';
import { renderImage } from './render-image.js';
import { renderInWorker } from './offload.js';

const dimension = z.number().int().min(64).max(2048);

/** fal's image_size presets. */
const FAL_PRESETS = {
  square_hd: [1024, 1024], square: [512, 512], portrait_4_3: [768, 1024], portrait_16_9: [576, 1024],
  landscape_4_3: [1024, 768], landscape_16_9: [1024, 576],
} as const;

const inputSchema = z.looseObject({
  prompt: z.string().trim().min(1, 'prompt is required').max(8000),
  seed: seedSchema.optional(),
  width: dimension.optional(),
  height: dimension.optional(),
  /** fal style: a preset name or {width, height}. */
  image_size: z
    .union([z.enum(Object.keys(FAL_PRESETS) as [keyof typeof FAL_PRESETS]), z.looseObject({ width: dimension, height: dimension })])
    .optional(),
  /** Replicate style: "16:9", "1:1", … */
  aspect_ratio: z.string().regex(/^\d{1,2}:\d{1,2}$/, 'aspect_ratio looks like "16:9"').optional(),
});
type ImageInput = z.infer<typeof inputSchema>;

export const imageOptionsSchema = demoOptionsSchema.extend({
  defaultWidth: dimension.default(1024),
  defaultHeight: dimension.default(1024),
});

/** Output size: explicit width/height, else fal's image_size, else Replicate's aspect_ratio. */
function size(input: ImageInput, defaultWidth: number, defaultHeight: number): [number, number] {
  const preset = typeof input.image_size === 'string' ? FAL_PRESETS[input.image_size] : input.image_size && [input.image_size.width, input.image_size.height];
  let [w, h]: readonly number[] = preset ?? [defaultWidth, defaultHeight];
  if (!preset && input.aspect_ratio) {
    const [rw, rh] = input.aspect_ratio.split(':').map(Number) as [number, number];
    const long = Math.max(defaultWidth, defaultHeight);
    const snap = (v: number): number => Math.min(2048, Math.max(64, Math.round(v / 16) * 16));
    [w, h] = rw >= rh ? [long, snap((long * rh) / Math.max(1, rw))] : [snap((long * rw) / Math.max(1, rh)), long];
  }
  return [input.width ?? w!, input.height ?? h!];
}

export function createDemoImageProvider(options: unknown): Provider {
  const opts = imageOptionsSchema.parse(options ?? {});
  return {
    name: 'demo-image',
    inputSchema: describeInput(inputSchema),
    parseInput(input: JsonObject): JsonObject {
      const parsed = parseWith(inputSchema, input);
      const [width, height] = size(parsed, opts.defaultWidth, opts.defaultHeight);
      return Object.assign({}, input, { prompt: parsed.prompt, width, height }); // not `{ ...input, … }`: slow on Node 20
    },
    parseFollowUp: (followUp) => parseImageFollowUp(followUp),
    async run(ctx) {
      if (ctx.followUp) return runImageFollowUp(ctx, ctx.followUp, opts, { width: opts.defaultWidth, height: opts.defaultHeight });
      const { prompt, width, height, seed: given } = parseWith(inputSchema, ctx.input);
      moderate(prompt, opts);
      const seed = pickSeed(given);
      await simulateWork(ctx, opts, 'rendering');
      failIfAsked(prompt, opts);
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
