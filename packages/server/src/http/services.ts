/**
 * Service definitions from the configuration: a local provider, or channels to upstream
 * platforms (each channel's adapter built with its key read from the environment now, so a
 * missing key stops the start with the variable named, not the first task).
 */
import type { ChannelConfig, GatewayConfig, ServiceConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { priceOf, type ChannelDefinition, type ServiceDefinition } from '../core/services.js';
import type { JsonObject } from '../core/types.js';
import type { UpstreamAdapter } from '../core/upstream.js';
import { createProvider } from '../providers/index.js';
import { createUpstreamAdapter } from '../providers/upstream/index.js';
import { relayProvider } from '../providers/upstream/relay-provider.js';

function channelKey(ch: ChannelConfig, at: string, env: NodeJS.ProcessEnv, problems: string[]): string | null {
  if (ch.apiKey !== undefined) return ch.apiKey;
  if (ch.apiKeyEnv === undefined) return null;
  const value = env[ch.apiKeyEnv];
  if (value === undefined || value === '') {
    problems.push(`${ch.apiKeyEnv}: not set (${at}.apiKeyEnv names it)`);
    return null;
  }
  return value;
}

/** Wraps a channel's adapter (metrics count its requests); the identity by default. */
export type AdapterWrapper = (channel: string, adapter: UpstreamAdapter) => UpstreamAdapter;

function channels(name: string, svc: ServiceConfig, env: NodeJS.ProcessEnv, problems: string[], wrap: AdapterWrapper): ChannelDefinition[] {
  return (svc.channels ?? []).map((ch, i) => {
    const apiKey = channelKey(ch, `services.${name}.channels.${i}`, env, problems);
    const adapter = wrap(ch.name, createUpstreamAdapter(ch.provider, { name: ch.name, baseUrl: ch.baseUrl.replace(/\/+$/, ''), apiKey, model: ch.model, requestTimeoutMs: ch.requestTimeoutMs }));
    return {
      name: ch.name,
      adapter,
      priority: ch.priority,
      weight: ch.weight,
      maxConcurrency: ch.maxConcurrency,
      maxRequestsPerSecond: ch.maxRequestsPerSecond,
      poll: ch.poll,
      pollBatchSize: Math.max(1, Math.min(adapter.batchSize, ch.pollBatchSize ?? adapter.batchSize)),
    };
  });
}

/** Every configured service as core sees it; throws ConfigError naming each missing key. */
export function serviceDefinitions(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env, wrap: AdapterWrapper = (_c, a) => a): ServiceDefinition[] {
  const problems: string[] = [];
  const defs = Object.entries(config.services).map(([name, svc]): ServiceDefinition => {
    const relayed = svc.channels !== undefined;
    return {
      name,
      provider: relayed || svc.provider === undefined ? relayProvider : createProvider(svc.provider, svc.options),
      waitCapable: svc.mode === 'wait',
      waitLimitMs: svc.waitLimitMs,
      timeoutMs: svc.timeoutMs,
      concurrency: svc.concurrency,
      aliases: svc.aliases,
      price: (input: JsonObject) => priceOf(svc.price, input),
      relay: relayed ? { channels: channels(name, svc, env, problems, wrap) } : null,
    };
  });
  if (problems.length) throw new ConfigError('environment', problems);
  return defs;
}
