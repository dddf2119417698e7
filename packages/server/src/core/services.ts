/** Service definitions as core sees them: a provider plus the limits the engine enforces. */
import { GatewayError } from './errors.js';
import type { Provider } from './ports.js';
import type { JsonObject } from './types.js';
import type { UpstreamAdapter } from './upstream.js';

/** One configured way to reach an upstream for a service (see core/upstream.ts). */
export interface ChannelDefinition {
  /** Unique across the gateway; never shown to clients. */
  name: string;
  adapter: UpstreamAdapter;
  /** Lower first; within a priority, chosen at random by weight. */
  priority: number;
  weight: number;
  /** Most tasks waiting on this channel's upstream at once. */
  maxConcurrency: number;
  /** Most upstream requests per second (submits and polls together); null: no limit. */
  maxRequestsPerSecond: number | null;
  /** Poll backoff: initialMs after the submit, × factor per poll, at most maxMs. */
  poll: { initialMs: number; maxMs: number; factor: number };
  /** Most tasks one poll request asks about (≤ the adapter's batchSize; 1: one task a request). */
  pollBatchSize: number;
}

export interface ServiceDefinition {
  /** `midjourney/imagine`, `suno/audios`, … */
  name: string;
  provider: Provider;
  /** Wait-capable services may hold a create request until the result is ready. */
  waitCapable: boolean;
  /** Longest a create request waits before answering with the task id. */
  waitLimitMs: number;
  /** A task running longer than this fails with `timeout`. */
  timeoutMs: number;
  /** Most tasks of this service running at once (across workers). */
  concurrency: number;
  /** Names the service is known by in each dialect (`{ queue: ['fal-ai/flux/dev'] }`). */
  aliases: Readonly<Record<string, readonly string[]>>;
  /** Credits a task with this (validated) input costs; 0 = free. */
  price(input: JsonObject): number;
  /**
   * A relayed service: its tasks are submitted to one of these channels and polled there (the
   * provider then only validates input). Null: the provider runs tasks locally.
   */
  relay: { channels: readonly ChannelDefinition[] } | null;
}

/** A price rule from config: fixed, or base + perUnit × a numeric input field (rounded up). */
export type PriceRule = number | { base: number; perUnit: number; field: string };

export function priceOf(rule: PriceRule, input: JsonObject): number {
  if (typeof rule === 'number') return rule;
  const value = input[rule.field];
  const units = typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
  return Math.ceil(rule.base + rule.perUnit * units);
}

export class ServiceRegistry {
  private readonly byName = new Map<string, ServiceDefinition>();
  /** `${dialect}\u0000${alias}` → service. */
  private readonly byAlias = new Map<string, ServiceDefinition>();

  constructor(definitions: Iterable<ServiceDefinition>) {
    for (const def of definitions) {
      this.byName.set(def.name, def);
      for (const [dialect, names] of Object.entries(def.aliases)) {
        for (const alias of names) {
          const key = `${dialect}\u0000${alias}`;
          const other = this.byAlias.get(key);
          if (other) throw new Error(`${dialect} alias "${alias}" is used by both ${other.name} and ${def.name}`);
          this.byAlias.set(key, def);
        }
      }
    }
  }

  /** The service a dialect knows as `alias` (a model, endpoint or app id). */
  findByAlias(dialect: string, alias: string): ServiceDefinition | undefined {
    return this.byAlias.get(`${dialect}\u0000${alias}`);
  }

  /** The names of the services a dialect exposes. */
  exposedTo(dialect: string): string[] {
    return this.all().filter((d) => (d.aliases[dialect]?.length ?? 0) > 0).map((d) => d.name);
  }

  find(name: string): ServiceDefinition | undefined {
    return this.byName.get(name);
  }

  /** The definition, or `no_api` (the path is not registered). */
  get(name: string): ServiceDefinition {
    const def = this.byName.get(name);
    if (!def) throw new GatewayError('no_api', `Service ${name} is not registered`);
    return def;
  }

  all(): ServiceDefinition[] {
    return [...this.byName.values()];
  }
}
