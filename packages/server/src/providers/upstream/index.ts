/**
 * The upstream protocol registry: a channel's `provider` in config → the adapter factory of that
 * protocol (one folder each under providers/upstream/).
 */
import type { ChannelSettings, UpstreamAdapter } from '../../core/upstream.js';

const FACTORIES: Record<string, (settings: ChannelSettings) => UpstreamAdapter> = {};

export const UPSTREAM_PROTOCOLS = (): string[] => Object.keys(FACTORIES);

export function createUpstreamAdapter(protocol: string, settings: ChannelSettings): UpstreamAdapter {
  const factory = FACTORIES[protocol];
  if (!factory) throw new Error(`unknown upstream protocol "${protocol}" (known: ${UPSTREAM_PROTOCOLS().join(', ') || 'none'})`);
  return factory(settings);
}
