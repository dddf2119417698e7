/**
 * Per-token request rate limits, enforced with `rate-limiter-flexible` (in memory for now; a
 * RateLimiterRedis with the same options makes them hold across nodes). Two budgets, both keyed by
 * the token id, each a 1-second window whose burst equals its rate:
 *   - every authenticated request: `rateLimits.rps`, or the token's `rateLimitRps` override;
 *   - per service: `rateLimits.services[name]` — each token may make that many creates per second
 *     of that service (a limit per token and service, not one shared by all tokens).
 * Over either budget → GatewayError('too_many_requests') with `retryAfter` in whole seconds; every
 * dialect renders it in its own 429 envelope with a Retry-After header.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { GatewayError } from '../core/errors.js';

export const RATE_LIMIT_MESSAGE = 'Rate limit exceeded, please try again later';

export interface RateLimitSettings {
  /** Requests per second per token; null: no default limit. */
  rps: number | null;
  /** Requests per second per token for creates of these services (by service name). */
  services: Readonly<Record<string, number>>;
}

/**
 * What the limiter needs of a token (a TokenRecord fits). `rateLimitRps` is the token's own
 * override: a number replaces the default, null or absent keeps it.
 */
export interface RateLimitedToken {
  id: string;
  rateLimitRps?: number | null;
}

const WINDOW_SECONDS = 1;

export class RateLimits {
  private readonly defaultRps: number | null;
  /** One limiter per distinct rate (a token override makes its own). */
  private readonly byRate = new Map<number, RateLimiterMemory>();
  private readonly byService = new Map<string, RateLimiterMemory>();

  constructor(settings: RateLimitSettings) {
    this.defaultRps = settings.rps;
    for (const [service, rps] of Object.entries(settings.services)) {
      this.byService.set(service, new RateLimiterMemory({ keyPrefix: `svc:${service}`, points: rps, duration: WINDOW_SECONDS }));
    }
  }

  /**
   * Counts one request of `token` (any request it authenticates: creates, polls, lists) against
   * its requests-per-second budget. Throws `too_many_requests` with `retryAfter` when it is spent.
   * Atomic: the limiter increments and compares its counter in one step.
   */
  async request(token: RateLimitedToken): Promise<void> {
    const rps = tokenRps(token) ?? this.defaultRps;
    if (rps !== null) await take(this.limiterFor(rps), token.id);
  }

  /** Counts one create of `service` by `token` against that service's budget, if it has one. */
  async create(token: RateLimitedToken, service: string): Promise<void> {
    const perService = this.byService.get(service);
    if (perService) await take(perService, token.id, service);
  }

  private limiterFor(rps: number): RateLimiterMemory {
    let limiter = this.byRate.get(rps);
    if (!limiter) {
      limiter = new RateLimiterMemory({ keyPrefix: `rps:${rps}`, points: rps, duration: WINDOW_SECONDS });
      this.byRate.set(rps, limiter);
    }
    return limiter;
  }
}

/** The token's own rate if it has a usable one (read defensively: the field may not exist). */
function tokenRps(token: RateLimitedToken): number | null {
  const rps = token.rateLimitRps;
  return typeof rps === 'number' && Number.isFinite(rps) && rps >= 1 ? Math.floor(rps) : null;
}

async function take(limiter: RateLimiterMemory, key: string, service?: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw err;
    const retryAfter = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
    const message = service === undefined ? RATE_LIMIT_MESSAGE : `Rate limit for ${service} exceeded, please try again later`;
    throw new GatewayError('too_many_requests', message, { retryAfter });
  }
}

/**
 * Builds the configured limiter (always: a token's own override applies even when no default is
 * set). A per-service limit naming no configured service is a configuration mistake.
 */
export function createRateLimits(settings: RateLimitSettings, services: readonly string[]): RateLimits {
  const unknown = Object.keys(settings.services).filter((s) => !services.includes(s));
  if (unknown.length) throw new Error(`rateLimits.services: no such service: ${unknown.join(', ')}`);
  return new RateLimits(settings);
}
