/**
 * When a failed delivery is tried again: the retry schedule (Standard Webhooks' by default), with
 * ±20 % jitter on every non-zero delay, raised to a receiver's `Retry-After` (capped).
 */

/** Jitter applied to every non-zero delay: the delay is multiplied by a factor in [0.8, 1.2). */
export const JITTER = 0.2;
/** A `Retry-After` never parks a delivery longer than this (nor less than the schedule says). */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * The delay before the next attempt, in milliseconds, after `attemptsMade` attempts have failed;
 * null when the schedule is exhausted (the delivery has failed for good). `schedule[n]` is the
 * delay, in seconds, of attempt n+1 (so `schedule[0]` is the first attempt's, normally 0).
 */
export function retryDelayMs(
  schedule: readonly number[],
  attemptsMade: number,
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number | null {
  const seconds = schedule[attemptsMade];
  if (seconds === undefined) return null;
  const base = seconds * 1000;
  const jittered = base > 0 ? base * (1 - JITTER + 2 * JITTER * random()) : 0;
  const floor = retryAfterMs === null ? 0 : Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  return Math.round(Math.max(jittered, floor));
}

/**
 * A `Retry-After` header value (delta seconds or an HTTP date) as milliseconds from `now`; null
 * when absent or unreadable. A date in the past means "now" (0).
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return null;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  if (!/[a-z]/i.test(raw)) return null; // "1.5", "-3": neither delta seconds nor a date
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}
