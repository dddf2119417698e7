/**
 * Channel health, order and caps for relayed services.
 * - Order for a submit: lower `priority` first; within a priority, weighted random order.
 * - Health: a failure that says the channel is broken (unavailable) counts; after
 *   `FAILURES_TO_COOL` in a row the channel cools down (5 s, doubling per further failure, at most
 *   5 min) and is then probed back in by the next submit (a success makes it healthy again). A 429
 *   cools it for its Retry-After without counting as a failure.
 * - Caps: `maxConcurrency` tasks waiting upstream (the store's count plus this process's submits in
 *   flight) and `maxRequestsPerSecond` upstream requests, submits and polls together, on
 *   rate-limiter-flexible (its Redis limiter takes the same options when nodes share the caps).
 * State is per process for now; the admin API shows it (`GET /admin/channels`).
 */
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { memoryLimiters, type LimiterFactory } from '../coordination/limiters.js';
import type { Clock } from '../core/ports.js';
import type { ChannelDefinition, ServiceDefinition } from '../core/services.js';

export const FAILURES_TO_COOL = 3;
const FIRST_COOL_MS = 5000;
const MAX_COOL_MS = 300_000;

interface Health {
  failures: number;
  coolUntil: number;
  lastError: string | null;
  submitting: number;
}

export interface ChannelView {
  name: string;
  service: string;
  protocol: string;
  priority: number;
  weight: number;
  state: 'healthy' | 'cooling';
  consecutive_failures: number;
  cool_until: string | null;
  last_error: string | null;
  in_flight: number;
  max_concurrency: number;
  max_requests_per_second: number | null;
}

export class ChannelPool {
  private readonly health = new Map<string, Health>();
  private readonly limiters = new Map<string, RateLimiterAbstract>();

  constructor(
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
    /** Where the per-channel request counters live (Redis: shared by every node). */
    private readonly makeLimiter: LimiterFactory = memoryLimiters,
  ) {}

  private of(name: string): Health {
    let h = this.health.get(name);
    if (!h) {
      h = { failures: 0, coolUntil: 0, lastError: null, submitting: 0 };
      this.health.set(name, h);
    }
    return h;
  }

  /** The channels to try, in order, leaving out those cooling down or at their cap. */
  order(channels: readonly ChannelDefinition[], inFlight: Readonly<Record<string, number>>): ChannelDefinition[] {
    const now = this.clock.now();
    const usable = channels.filter((c) => this.of(c.name).coolUntil <= now && this.inFlight(c, inFlight) < c.maxConcurrency);
    const tiers = [...new Set(usable.map((c) => c.priority))].sort((a, b) => a - b);
    return tiers.flatMap((p) => this.weighted(usable.filter((c) => c.priority === p)));
  }

  /** Weighted random order (each pick proportional to weight among those left). */
  private weighted(tier: ChannelDefinition[]): ChannelDefinition[] {
    const left = [...tier];
    const out: ChannelDefinition[] = [];
    while (left.length > 0) {
      let roll = this.random() * left.reduce((sum, c) => sum + c.weight, 0);
      const i = Math.max(0, left.findIndex((c) => (roll -= c.weight) < 0));
      out.push(...left.splice(i === -1 ? 0 : i, 1));
    }
    return out;
  }

  private inFlight(c: ChannelDefinition, stored: Readonly<Record<string, number>>): number {
    return (stored[c.name] ?? 0) + this.of(c.name).submitting;
  }

  /** Whether the channel is cooling down (after failures, or resting after a 429) at this moment. */
  cooling(c: ChannelDefinition): boolean {
    return this.of(c.name).coolUntil > this.clock.now();
  }

  /** When the earliest cooling channel of these comes back (for a task that found none usable). */
  nextUsableAt(channels: readonly ChannelDefinition[]): number {
    const now = this.clock.now();
    const times = channels.map((c) => this.of(c.name).coolUntil).filter((t) => t > now);
    return times.length ? Math.min(...times) : now + FIRST_COOL_MS;
  }

  /**
   * Takes one upstream request from the channel's per-second budget: 0 if it may go now, else the
   * milliseconds until it may.
   */
  async take(c: ChannelDefinition): Promise<number> {
    if (c.maxRequestsPerSecond === null) return 0;
    let limiter = this.limiters.get(c.name);
    if (!limiter) {
      // Fractional rates (0.5/s) become one request per 1/rate seconds.
      const perSecond = c.maxRequestsPerSecond;
      const keyPrefix = `channel:${c.name}`;
      limiter = perSecond >= 1
        ? this.makeLimiter({ keyPrefix, points: Math.floor(perSecond), duration: 1 })
        : this.makeLimiter({ keyPrefix, points: 1, duration: Math.ceil(1 / perSecond) });
      this.limiters.set(c.name, limiter);
    }
    try {
      await limiter.consume('requests');
      return 0;
    } catch (res) {
      if (res instanceof RateLimiterRes) return Math.max(1, res.msBeforeNext);
      throw res;
    }
  }

  /** The channel's last upstream error (for logs), if any. */
  lastError(c: ChannelDefinition): string | null {
    return this.of(c.name).lastError;
  }

  /** A submit starts on the channel (counted against its cap until `submitEnded`). */
  submitStarted(c: ChannelDefinition): void {
    this.of(c.name).submitting++;
  }

  submitEnded(c: ChannelDefinition): void {
    const h = this.of(c.name);
    h.submitting = Math.max(0, h.submitting - 1);
  }

  succeeded(c: ChannelDefinition): void {
    const h = this.of(c.name);
    h.failures = 0;
    h.coolUntil = 0;
    h.lastError = null;
  }

  /** The channel looked broken (unavailable, ambiguous): counts toward a cool-down. */
  failed(c: ChannelDefinition, error: string): void {
    const h = this.of(c.name);
    h.failures++;
    h.lastError = error;
    if (h.failures >= FAILURES_TO_COOL) {
      const ms = Math.min(MAX_COOL_MS, FIRST_COOL_MS * 2 ** (h.failures - FAILURES_TO_COOL));
      h.coolUntil = this.clock.now() + ms;
    }
  }

  /** 429: not broken, just full; resting for Retry-After (or a short default). */
  rateLimited(c: ChannelDefinition, retryAfterMs: number | null, error: string): void {
    const h = this.of(c.name);
    h.lastError = error;
    h.coolUntil = Math.max(h.coolUntil, this.clock.now() + (retryAfterMs ?? 1000));
  }

  view(services: readonly ServiceDefinition[], inFlight: Readonly<Record<string, number>>): ChannelView[] {
    const now = this.clock.now();
    return services.flatMap((def) =>
      (def.relay?.channels ?? []).map((c): ChannelView => {
        const h = this.of(c.name);
        return {
          name: c.name, service: def.name, protocol: c.adapter.protocol, priority: c.priority, weight: c.weight,
          state: h.coolUntil > now ? 'cooling' : 'healthy', consecutive_failures: h.failures,
          cool_until: h.coolUntil > now ? new Date(h.coolUntil).toISOString() : null, last_error: h.lastError,
          in_flight: this.inFlight(c, inFlight), max_concurrency: c.maxConcurrency, max_requests_per_second: c.maxRequestsPerSecond,
        };
      }),
    );
  }
}
