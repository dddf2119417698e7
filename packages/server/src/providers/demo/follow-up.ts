/**
 * Follow-up actions of `demo-image` (core/follow-ups.ts), on a PNG an earlier task of the service
 * made:
 * - `upscaleN`: quadrant N of the parent image (Midjourney's numbering: 1 top left, 2 top right,
 *   3 bottom left, 4 bottom right), decoded from the file store and rendered twice as large, so
 *   the result has the parent's size (render-upscale.ts). Its seed is the parent's.
 * - `variationN`: the parent's prompt again at the parent's size, with a seed derived from the
 *   parent's (parent seed + N, modulo 2³²): the same variation of the same image is the same
 *   picture, and each of the four differs from the parent and from the others.
 * - `reroll`: the parent's prompt again at the parent's size, with a fresh random seed.
 * The parent's prompt is its origin's for a parent that was itself a follow-up.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../../core/errors.js';
import type { ProviderContext } from '../../core/ports.js';
import type { FollowUp, JsonObject, TaskOutput } from '../../core/types.js';
import { failIfAsked, moderate, pickSeed, simulateWork, type DemoOptions } from './common.js';
import { renderInWorker } from './offload.js';
import { renderImage } from './render-image.js';
import { upscaleQuadrant } from './render-upscale.js';

/** Largest parent PNG read back (a 2048×2048 demo PNG is a few MiB). */
const MAX_PARENT_BYTES = 64 * 1024 * 1024;
const SEEDS = 2 ** 32;

/** The input kept with a follow-up task; refuses parents this provider cannot continue. */
export function parseImageFollowUp(followUp: FollowUp): JsonObject {
  const { file } = followUp.parent;
  if (file.contentType !== 'image/png') throw new GatewayError('api_not_implemented', `Follow-up actions take PNG images; this image is ${file.contentType}`);
  if (followUp.kind === 'upscale' && ((file.width ?? 64) < 2 || (file.height ?? 64) < 2)) {
    throw new GatewayError('bad_request', 'Invalid field image_id: the image is too small to upscale a quadrant of');
  }
  return { action: followUp.action, image_id: file.id };
}

export async function runImageFollowUp(ctx: ProviderContext, followUp: FollowUp, opts: DemoOptions, defaults: { width: number; height: number }): Promise<TaskOutput> {
  const { parent } = followUp;
  const prompt = typeof parent.input.prompt === 'string' ? parent.input.prompt : '';
  moderate(prompt, opts);
  await simulateWork(ctx, opts, followUp.kind === 'upscale' ? `upscaling image ${followUp.index}` : `rendering ${followUp.action}`);
  failIfAsked(prompt, opts);
  let png: Buffer;
  let seed: number;
  if (followUp.kind === 'upscale') {
    const source = await ctx.files.read(parent.file.path, MAX_PARENT_BYTES);
    png = await renderInWorker('upscale', { png: source, index: followUp.index ?? 1 }, ctx.signal, upscaleQuadrant);
    seed = parent.seed ?? 0;
  } else {
    // A copied upstream image may not say its size: its PNG header does.
    const [w, h] = parent.file.width !== undefined && parent.file.height !== undefined
      ? [parent.file.width, parent.file.height]
      : pngSize(await ctx.files.read(parent.file.path, MAX_PARENT_BYTES), defaults);
    const [width, height] = [w, h].map((v) => Math.min(2048, Math.max(64, v))) as [number, number];
    seed = followUp.kind === 'variation' && parent.seed !== null ? (parent.seed + (followUp.index ?? 1)) % SEEDS : pickSeed(undefined);
    png = await renderInWorker('image', { prompt, seed, width, height }, ctx.signal, renderImage);
  }
  const [width, height] = pngSize(png, defaults);
  const stored = await ctx.files.write('image.png', 'image/png', png);
  return { seed, files: [{ id: randomUUID(), kind: 'image', width, height, ...stored }], data: { prompt } };
}

/** Width and height from a PNG's IHDR chunk (the fallback if it is not one). */
function pngSize(png: Buffer, fallback: { width: number; height: number }): [number, number] {
  const ok = png.length >= 24 && png.toString('latin1', 12, 16) === 'IHDR';
  return ok ? [png.readUInt32BE(16), png.readUInt32BE(20)] : [fallback.width, fallback.height];
}
