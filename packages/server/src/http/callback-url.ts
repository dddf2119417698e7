/**
 * Client-supplied callback URLs (task API `callback_url`, APIXO `callback_url`, fal `?fal_webhook=`,
 * Replicate `webhook`), validated in one place for every dialect. The webhooks issue adds its
 * address checks (SSRF) here too.
 */
import { GatewayError } from '../core/errors.js';

export const MAX_CALLBACK_URL = 2048;

/**
 * The URL if valid, null when absent (undefined, null or ""), else `bad_request` whose message
 * starts with `label` (e.g. "Field callback_url", "Query parameter fal_webhook").
 */
export function parseCallbackUrl(value: unknown, label: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new GatewayError('bad_request', `${label} must be a string`);
  if (value.length > MAX_CALLBACK_URL) throw new GatewayError('bad_request', `${label} is longer than ${MAX_CALLBACK_URL} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GatewayError('bad_request', `${label} must be an absolute http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GatewayError('bad_request', `${label} must use http or https`);
  return value;
}
