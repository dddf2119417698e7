/**
 * Client-supplied callback URLs (task API `callback_url`, APIXO `callback_url`, fal `?fal_webhook=`,
 * Replicate `webhook`), validated in one place for every dialect: the URL's shape, then (unless the
 * operator allows private callbacks) the addresses its host resolves to — every address must be
 * public unicast and not one of the gateway host's own addresses; loopback, private, link-local,
 * metadata, reserved/TEST-NET and IPv6 translation forms (IPv4-translated, NAT64, 6to4, Teredo)
 * are refused (SSRF; the exact rule is in webhooks/ssrf.ts). The delivery engine checks the
 * address again when it connects, so a host that changes its DNS answer later gains nothing.
 */
import { z } from 'zod';
import type { GatewayConfig } from '../config/schema.js';
import { GatewayError } from '../core/errors.js';
import { BlockedAddressError, resolveAllowed } from '../webhooks/ssrf.js';

export const MAX_CALLBACK_URL = 2048;
/** A callback URL's shape as a schema (the OpenAPI document); `parseCallbackUrl` checks exactly these three things, naming each. */
export const callbackUrlSchema = z.url({ protocol: /^https?$/ }).max(MAX_CALLBACK_URL);
/** Longest a create waits for the callback host's DNS answer. */
export const RESOLVE_TIMEOUT_MS = 5000;

export interface CallbackPolicy {
  /** Accept hosts that resolve to any address (loopback, private, link-local, metadata, the host's own …). */
  allowPrivate: boolean;
}

/** The policy the gateway's configuration sets (`webhooks.allowPrivateCallbacks`). */
export function callbackPolicy(config: Pick<GatewayConfig, 'webhooks'>): CallbackPolicy {
  return { allowPrivate: config.webhooks.allowPrivateCallbacks };
}

/**
 * The URL if its shape is valid, null when absent (undefined, null or ""), else `bad_request`
 * whose message starts with `label` (e.g. "Field callback_url", "Query parameter fal_webhook").
 * Shape only: `checkCallbackUrl` adds the address check.
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

/** `parseCallbackUrl`, then the address check of `checkCallbackAddress`. */
export async function checkCallbackUrl(value: unknown, label: string, policy: CallbackPolicy): Promise<string | null> {
  const url = parseCallbackUrl(value, label);
  if (url !== null) await checkCallbackAddress(url, label, policy);
  return url;
}

/**
 * Refuses (`bad_request`) a callback URL whose host resolves to a blocked address, or does not
 * resolve, unless the policy allows private callbacks (then nothing is resolved at all). IP
 * literals — also IPv6, IPv4-mapped IPv6 (`[::ffff:127.0.0.1]`, classified by its IPv4 address)
 * and the other IPv4-embedding forms (`[::ffff:0:127.0.0.1]`, `[2002:7f00:1::]`, refused outright)
 * — are checked without DNS.
 */
export async function checkCallbackAddress(url: string, label: string, policy: CallbackPolicy): Promise<void> {
  if (policy.allowPrivate) return;
  const host = new URL(url).hostname; // normalised by the URL parser: 0x7f.1 → 127.0.0.1
  if (host === '') throw new GatewayError('bad_request', `${label} must name a host`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), RESOLVE_TIMEOUT_MS);
  });
  try {
    await Promise.race([resolveAllowed(host), timeout]);
  } catch (err) {
    if (err instanceof BlockedAddressError) {
      const address = err.address;
      throw new GatewayError(
        'bad_request',
        `${label} resolves to a loopback, private, link-local or metadata address (${address}); ` +
          'set TASKGATE_ALLOW_PRIVATE_CALLBACKS=1 to allow it',
      );
    }
    throw new GatewayError('bad_request', `${label} host ${host} does not resolve`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
