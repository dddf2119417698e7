/** What the offline demo providers share: input helpers, abortable latency, moderation. */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { GatewayError } from '../../core/errors.js';
import type { ProviderContext } from '../../core/ports.js';
import type { JsonObject } from '../../core/types.js';

/** Options every demo provider accepts in its service's `options` (any other key is refused). */
export const demoOptionsSchema = z.strictObject({
  /** Simulated generation time. */
  latencyMs: z.number().int().min(0).max(3_600_000).default(1500),
  /** Progress reports spread over the latency. */
  steps: z.number().int().min(1).max(100).default(4),
  /** Prompts containing any of these words fail with `forbidden` (simulated moderation). */
  blockedWords: z.array(z.string().min(1)).default(['forbidden-demo-word']),
  /** Prompts containing any of these fail with an upstream error (`api_error`), after the latency. */
  failWords: z.array(z.string().min(1)).default(['fail-demo-word']),
});
export type DemoOptions = z.infer<typeof demoOptionsSchema>;

export const seedSchema = z.number().int().min(0).max(4_294_967_295);

/**
 * `schema` as the JSON Schema of what it accepts (zod's own conversion, input side: defaults
 * optional), for `Provider.inputSchema`; the same schema `parseWith` validates with.
 */
export function describeInput(schema: z.ZodType): JsonObject {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  return json;
}

/** Validates `input` with `schema`, turning the first problem into a `bad_request` naming it. */
export function parseWith<T>(schema: z.ZodType<T>, input: JsonObject): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : 'input';
  throw new GatewayError('bad_request', `Invalid field ${field}: ${issue?.message ?? 'invalid value'}`);
}

/** The seed to use: the client's, or a fresh random one (reported in the output). */
export function pickSeed(seed: number | undefined): number {
  return seed ?? randomInt(0, 2 ** 32 - 1);
}

/** Simulated moderation, as an upstream would answer it. */
export function moderate(prompt: string, opts: DemoOptions): void {
  const lower = prompt.toLowerCase();
  if (opts.blockedWords.some((w) => lower.includes(w.toLowerCase()))) {
    throw new GatewayError('forbidden', 'The prompt was rejected by content moderation');
  }
}

/** A simulated upstream failure (the dispatcher reports it as `api_error`, details kept in the log). */
export function failIfAsked(prompt: string, opts: DemoOptions): void {
  const lower = prompt.toLowerCase();
  if (opts.failWords.some((w) => lower.includes(w.toLowerCase()))) throw new Error('demo upstream failure (a fail word was in the prompt)');
}

/** Spends `latencyMs` in `steps`, reporting progress; stops at once when the task is aborted. */
export async function simulateWork(ctx: ProviderContext, opts: DemoOptions, label: string): Promise<void> {
  const step = opts.latencyMs / opts.steps;
  for (let i = 1; i <= opts.steps; i++) {
    await sleep(step, undefined, { signal: ctx.signal });
    ctx.progress(i / (opts.steps + 1), `${label}: step ${i}/${opts.steps}`);
  }
}
