/**
 * The upstream protocol registry: a channel's `provider` in config → the adapter factory of that
 * protocol (one folder each under providers/upstream/).
 */
import type { ChannelSettings, UpstreamAdapter } from '../../core/upstream.js';
import { createApixoAdapter } from './apixo/adapter.js';
import { createFalAdapter } from './fal/adapter.js';
import { createMidjourneyProxyAdapter } from './midjourney-proxy/adapter.js';
import { createOpenAIImagesAdapter } from './openai-images/adapter.js';
import { createReplicateAdapter } from './replicate/adapter.js';
import { createTaskApiAdapter } from './task-api/adapter.js';

const FACTORIES: Record<string, (settings: ChannelSettings) => UpstreamAdapter> = {
  'task-api': createTaskApiAdapter,
  apixo: createApixoAdapter,
  fal: createFalAdapter,
  replicate: createReplicateAdapter,
  'openai-images': createOpenAIImagesAdapter,
  'midjourney-proxy': createMidjourneyProxyAdapter,
};

export const UPSTREAM_PROTOCOLS = (): string[] => Object.keys(FACTORIES);

export function createUpstreamAdapter(protocol: string, settings: ChannelSettings): UpstreamAdapter {
  const factory = FACTORIES[protocol];
  if (!factory) throw new Error(`unknown upstream protocol "${protocol}" (known: ${UPSTREAM_PROTOCOLS().join(', ') || 'none'})`);
  return factory(settings);
}
