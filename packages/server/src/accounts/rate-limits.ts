/**
 * Request rate limits, enforced with `rate-limiter-flexible` limiters from a LimiterFactory (in
 * memory on one node; in Redis, shared by every node, when configured). Three budgets, each a
 * 1-second window whose burst equals its rate:
 *   - every authenticated request, per token: `rateLimits.rps`, or the token's `rateLimitRps`;
 *   - every authenticated request, per account: the account's `rateLimitRps` if it has one (all
 *     its tokens together);
 *   - per service: `rateLimits.services[name]` — each account may make that many creates per
 *     second of that service (a limit per account and service, not one shared by all accounts).
 * Over either budget → GatewayError('too_many_requests') with `retryAfter` in whole seconds; every
 * dialect renders it in its own 429 envelope with a Retry-After header.
 */
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { memoryLimiters, type LimiterFactory } from '../coordination/limiters.js';
import { GatewayError } from '../core/errors.js';

export const RATE_LIMIT_MESSAGE = 'Rate limit exceeded, please try again later';

export interface RateLimitSettings {
  /** Requests per second per token; null: no default limit. */
  rps: number | null;
  /** Requests per second per token for creates of these services (by service name). */
  services: Readonly<Record<string, number>>;
}

/** What the limiter needs of a token or account (their records fit). */
export interface RateLimited {
  id: string;
  /** Its own rate: a number replaces the default (a token's) or sets one (an account's); null or absent: none. */
  rateLimitRps?: number | null;
}

/** Who is asking (a Principal fits). */
export interface RateLimitedCaller {
  token: RateLimited;
  account: RateLimited;
}

const WINDOW_SECONDS = 1;

/** Which budget refused a request: the token's, the account's, or a service's per-account create budget. */
export type RateLimitKind = 'token' | 'account' | 'service';

export class RateLimits {
  private readonly defaultRps: number | null;
  /** One limiter per distinct rate (a token override makes its own). */
  private readonly byRate = new Map<number, RateLimiterAbstract>();
  private readonly byService = new Map<string, RateLimiterAbstract>();
  /** Told of every refusal (metrics); `service` only for a service's budget. */
  onRefused: (limit: RateLimitKind, service: string | null) => void = () => {};

  constructor(
    settings: RateLimitSettings,
    private readonly limiters: LimiterFactory = memoryLimiters,
  ) {
    this.defaultRps = settings.rps;
    for (const [service, rps] of Object.entries(settings.services)) {
      this.byService.set(service, limiters({ keyPrefix: `svc:${service}`, points: rps, duration: WINDOW_SECONDS }));
    }
  }

  /**
   * Counts one request (any request a token authenticates: creates, polls, lists) against the
   * token's requests-per-second budget and its account's. Throws `too_many_requests` with
   * `retryAfter` when one is spent. Atomic: the limiter increments and compares its counter in one step.
   */
  async request(caller: RateLimitedCaller): Promise<void> {
    const rps = ownRps(caller.token) ?? this.defaultRps;
    if (rps !== null) await this.take(this.limiterFor(rps), `t:${caller.token.id}`, 'token');
    const accountRps = ownRps(caller.account);
    if (accountRps !== null) await this.take(this.limiterFor(accountRps), `a:${caller.account.id}`, 'account');
  }

  /** Counts one create of `service` by the caller's account against that service's budget, if it has one. */
  async create(caller: RateLimitedCaller, service: string): Promise<void> {
    const perService = this.byService.get(service);
    if (perService) await this.take(perService, caller.account.id, 'service', service);
  }

  private async take(limiter: RateLimiterAbstract, key: string, limit: RateLimitKind, service?: string): Promise<void> {
    try {
      await take(limiter, key, service);
    } catch (err) {
      if (err instanceof GatewayError) this.onRefused(limit, service ?? null);
      throw err;
    }
  }

  private limiterFor(rps: number): RateLimiterAbstract {
    let limiter = this.byRate.get(rps);
    if (!limiter) {
      limiter = this.limiters({ keyPrefix: `rps:${rps}`, points: rps, duration: WINDOW_SECONDS });
      this.byRate.set(rps, limiter);
    }
    return limiter;
  }
}

/** A token's or account's own rate if it has a usable one (read defensively: the field may not exist). */
function ownRps(holder: RateLimited): number | null {
  const rps = holder.rateLimitRps;
  return typeof rps === 'number' && Number.isFinite(rps) && rps >= 1 ? Math.floor(rps) : null;
}

async function take(limiter: RateLimiterAbstract, key: string, service?: string): Promise<void> {
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
export function createRateLimits(settings: RateLimitSettings, services: readonly string[], limiters: LimiterFactory = memoryLimiters): RateLimits {
  const unknown = Object.keys(settings.services).filter((s) => !services.includes(s));
  if (unknown.length) throw new Error(`rateLimits.services: no such service: ${unknown.join(', ')}`);
  return new RateLimits(settings, limiters);
}
