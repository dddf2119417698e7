/**
 * Polls that need several upstream requests (several batches, or one request per task where the
 * protocol has no batch query): the statuses of the requests that answered are kept, the tasks of
 * the others are left out (transient: polled again later). Only when no request answered at all
 * does the poll throw, with the most telling error (a rate limit, so the engine honours it).
 */
import { UpstreamRateLimited, type UpstreamCall, type UpstreamStatus } from '../../core/upstream.js';

export async function settleAll(
  parts: ReadonlyArray<() => Promise<Map<string, UpstreamStatus>>>,
  call: UpstreamCall,
  protocol: string,
): Promise<Map<string, UpstreamStatus>> {
  const results = await Promise.allSettled(parts.map((part) => part()));
  const merged = new Map<string, UpstreamStatus>();
  const errors: unknown[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') for (const [id, status] of r.value) merged.set(id, status);
    else errors.push(r.reason);
  }
  if (errors.length === 0) return merged;
  if (errors.length === results.length) throw errors.find((e) => e instanceof UpstreamRateLimited) ?? errors[0];
  call.log.warn({ protocol, failed: errors.length, of: results.length, err: errors[0] }, 'some upstream poll requests failed; their tasks are polled again later');
  return merged;
}
